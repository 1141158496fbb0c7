/** The end of a paginated list: a button for the next page while the server has one (its next_page_token). */
export function MoreButton({
  query,
}: {
  query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown };
}) {
  if (!query.hasNextPage) return null;
  return (
    <button type="button" className="more" disabled={query.isFetchingNextPage} onClick={() => void query.fetchNextPage()}>
      {query.isFetchingNextPage ? "Loading…" : "Load more"}
    </button>
  );
}

/** Options for connect-query's useInfiniteQuery on every List* RPC: they all page by page_token / next_page_token. */
export const byPageToken = {
  pageParamKey: "pageToken",
  getNextPageParam: (page: { nextPageToken: string }) => page.nextPageToken || undefined,
} as const;
