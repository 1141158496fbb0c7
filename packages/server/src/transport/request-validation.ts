import type { DescMessage, Message } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import type { Interceptor } from "@connectrpc/connect";
import { invalidArgument } from "../errors/domain-error.js";
import { findIllFormedString } from "./ill-formed-string.js";

/** Throws INVALID_ARGUMENT, naming the first field at fault, unless `message` obeys its schema's rules. */
export type ValidateMessage = (schema: DescMessage, message: Message) => void;

/**
 * Refuses strings no field can hold (NUL, unpaired surrogates; transport/ill-formed-string.ts),
 * then checks messages against the buf.validate rules in the proto, so handlers
 * only ever see valid input and the rules other-language clients read are the
 * rules the server enforces. The validator compiles each schema's rules once.
 */
export function createMessageValidator(): ValidateMessage {
  const validator = createValidator();
  return (schema, message) => {
    const illFormed = findIllFormedString(schema, message);
    if (illFormed) throw invalidArgument(illFormed.field, `${illFormed.field}: ${illFormed.problem}`);
    const result = validator.validate(schema, message);
    if (result.kind === "valid") return;
    if (result.kind === "invalid") {
      const v = result.violations[0];
      const field = pathToString(v.field);
      throw invalidArgument(field, `${field}: ${v.message}`);
    }
    throw result.error;
  };
}

/** Validates every request message before the handler runs. */
export function createValidationInterceptor(validateMessage: ValidateMessage = createMessageValidator()): Interceptor {
  return (next) => async (req) => {
    if (!req.stream) {
      validateMessage(req.method.input, req.message);
      return next(req);
    }
    const input = req.message;
    const schema = req.method.input;
    return next({
      ...req,
      message: (async function* () {
        for await (const m of input) {
          validateMessage(schema, m);
          yield m;
        }
      })(),
    });
  };
}
