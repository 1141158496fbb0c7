// The loopback authorization server as a process of its own, for test suites in other languages (the Python
// client's): `npx tsx test/support/loopback-authorization-process.ts <redirect-uri>` prints one JSON line
// {issuer, clientId, clientSecret}, then answers one JSON line per command read from stdin:
//   {"authorize": url, "login": name}  -> {"callback": url}   (plays the browser, as authorize() does)
//   {"fault": TokenFault}              -> {"ok": true}        (answers the next token call with it)
//   {"tokenCalls": true}               -> {"tokenCalls": n}
// It exits when stdin closes.
import { createInterface } from "node:readline";
import { startLoopbackAuthorizationServer, type TokenFault } from "./loopback-authorization-server.js";

type Command = { authorize: string; login?: string } | { fault: TokenFault } | { tokenCalls: true };

const redirectUris = process.argv.slice(2);
const as = await startLoopbackAuthorizationServer({ redirectUris });
const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
reply({ issuer: as.issuer, clientId: as.clientId, clientSecret: as.clientSecret });

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as Command;
  try {
    if ("authorize" in command) reply({ callback: (await as.authorize(command.authorize, { login: command.login })).href });
    else if ("fault" in command) {
      as.pushFault(command.fault);
      reply({ ok: true });
    } else reply({ tokenCalls: as.tokenCalls() });
  } catch (err) {
    reply({ error: String(err) });
  }
}
await as.close();
