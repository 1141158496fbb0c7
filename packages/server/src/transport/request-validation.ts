import type { DescMessage, Message } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import type { Interceptor } from "@connectrpc/connect";
import { invalidArgument } from "../errors/domain-error.js";

/**
 * Checks every request message against the buf.validate rules in the proto
 * before the handler runs, so handlers only ever see valid input and the
 * rules other-language clients read are the rules the server enforces.
 */
export function createValidationInterceptor(): Interceptor {
  const validator = createValidator();
  const check = (schema: DescMessage, message: Message) => {
    const result = validator.validate(schema, message);
    if (result.kind === "valid") return;
    if (result.kind === "invalid") {
      const v = result.violations[0];
      const field = pathToString(v.field);
      throw invalidArgument(field, `${field}: ${v.message}`);
    }
    throw result.error;
  };
  return (next) => async (req) => {
    if (!req.stream) {
      check(req.method.input, req.message);
      return next(req);
    }
    const input = req.message;
    const schema = req.method.input;
    return next({
      ...req,
      message: (async function* () {
        for await (const m of input) {
          check(schema, m);
          yield m;
        }
      })(),
    });
  };
}
