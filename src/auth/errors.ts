import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"

/** No token, or a token Miko does not know: 401. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  apiErrorAnnotations(401)
) {}

/** A known token without the role (or the service) the operation needs: 403. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  apiErrorAnnotations(403)
) {}
