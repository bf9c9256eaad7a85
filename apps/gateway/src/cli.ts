#!/usr/bin/env node
import { APP_NAME } from "./index";

console.log(`${APP_NAME}: not implemented yet`);
