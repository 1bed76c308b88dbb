#!/usr/bin/env node
// The `moderoute` command.
import { main } from './main.js';

process.exitCode = await main(process.argv);
