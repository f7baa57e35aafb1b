/*
 * The node flags lvsd runs with: those of src/cli/main.ts's first line (#!/usr/bin/env -S node FLAGS), which
 * explains them. test/unit/cli-front.test.ts holds this list to that line.
 */
#ifndef LVSD_NODE_FLAGS_H
#define LVSD_NODE_FLAGS_H

#define LVSD_NODE_FLAGS "--max-semi-space-size=1", "--expose-gc"

#endif
