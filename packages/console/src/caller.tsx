import type { WhoAmIResponse } from "@engine-cloud/api";
import { createContext, useContext } from "react";

/** Who is signed in (WhoAmI), for every page: permissions decide which controls are offered at all. */
export const CallerContext = createContext<WhoAmIResponse | undefined>(undefined);

export function useCaller(): WhoAmIResponse {
  const caller = useContext(CallerContext);
  if (!caller) throw new Error("useCaller outside the signed-in shell");
  return caller;
}

/** Whether the caller holds a permission (e.g. "tokens.create"); the server refuses it anyway when not. */
export function useCan(permission: string): boolean {
  const caller = useCaller();
  return caller.permissions.includes(permission);
}
