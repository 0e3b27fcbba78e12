/* actions.h — the closed list of actions orgd writes events for: what
 * metrics count (a label's values are a fixed set) and what webhooks may
 * subscribe to. A leaf: it includes nothing of orgd's. */
#ifndef ORGD_ACTIONS_H
#define ORGD_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

/* Every action orgd writes an event for (docs/API.md, "The audit log"),
 * EVENT_ACTIONS_COUNT of them: what metrics count and webhooks subscribe
 * to. */
#define EVENT_ACTIONS_COUNT 23
extern const char *const event_actions[EVENT_ACTIONS_COUNT];
extern const size_t event_actions_n;
/* Whether pattern names actions orgd writes: "*", one of event_actions,
 * or a family "x.*" with one of them in it. */
bool event_action_pattern_known(const char *pattern);

#endif
