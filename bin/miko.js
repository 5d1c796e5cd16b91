#!/usr/bin/env node
import v8 from "node:v8"
// `general.heap: compact`, the default, from the first allocation on: a heap that has grown while
// starting stays grown. The service switches it live when the config says otherwise.
v8.setFlagsFromString("--optimize-for-size")
await import("../dist/miko.mjs")
