import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"

export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()(
  "TaskNotFound",
  { id: Schema.String, message: Schema.String },
  apiErrorAnnotations(404)
) {}

/** A task definition given in code that does not hold up (HTTP and config are checked by the Schema). */
export class TaskInvalid extends Schema.TaggedError<TaskInvalid>()(
  "TaskInvalid",
  { message: Schema.String },
  apiErrorAnnotations(400)
) {}

/** Another task already has this id. */
export class TaskExists extends Schema.TaggedError<TaskExists>()(
  "TaskExists",
  { id: Schema.String, message: Schema.String },
  apiErrorAnnotations(409)
) {}

/** Only tasks created over the API can be removed over it; the others belong to config or code. */
export class TaskNotRemovable extends Schema.TaggedError<TaskNotRemovable>()(
  "TaskNotRemovable",
  { id: Schema.String, message: Schema.String },
  apiErrorAnnotations(409)
) {}
