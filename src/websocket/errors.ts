import * as Schema from "effect/Schema"

export class InvalidMessage extends Schema.TaggedError<InvalidMessage>()("InvalidMessage", { message: Schema.String }) {}
export class InvalidJson extends Schema.TaggedError<InvalidJson>()("InvalidJson", { message: Schema.String }) {}
export class MessageTooLarge extends Schema.TaggedError<MessageTooLarge>()("MessageTooLarge", { message: Schema.String }) {}
export class UnknownCommand extends Schema.TaggedError<UnknownCommand>()("UnknownCommand", { message: Schema.String }) {}
export class InvalidArguments extends Schema.TaggedError<InvalidArguments>()("InvalidArguments", { message: Schema.String }) {}
export class TooManySubscriptions extends Schema.TaggedError<TooManySubscriptions>()("TooManySubscriptions", { message: Schema.String }) {}
export class UnknownSubscription extends Schema.TaggedError<UnknownSubscription>()("UnknownSubscription", { message: Schema.String }) {}
export class HandshakeRefused extends Schema.TaggedError<HandshakeRefused>()("HandshakeRefused", { message: Schema.String }) {}
