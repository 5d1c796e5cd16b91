#!/usr/bin/env node
import "../dist/miko.mjs"
