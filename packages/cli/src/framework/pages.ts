/** One page of a List* response, as the caller maps it. */
export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** Follows next_page_token from the first page to the last and returns every item, in server order. */
export async function collectPages<T>(fetchPage: (pageToken: string) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let pageToken = "";
  do {
    // A server that hands back a token it already gave would keep the CLI looping forever.
    if (seen.has(pageToken)) throw new Error(`the server repeated page token "${pageToken}"`);
    seen.add(pageToken);
    const page = await fetchPage(pageToken);
    items.push(...page.items);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return items;
}
