/* harness_events.h — the audit log (issue 22) as the test_events*
 * programs look at it: requests whose answer and X-Request-Id an event
 * must name, the log read as a client reads it (NDJSON) and as it is
 * stored (collection `events`, through libmongoc), every chain verified by
 * verify_chain.py (/usr/bin/python3), what an event must say, and no
 * secret in any event. For those programs only (harness.h does not
 * include it): their cases call these on almost every line, so they keep
 * the short names the cases were written with rather than th_ ones. */
#ifndef ORGD_TEST_HARNESS_EVENTS_H
#define ORGD_TEST_HARNESS_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness_orgd.h"

/* Where the tests' requests come from: what an event's client_address must say. */
#define LOCAL "127.0.0.1"

/* ---- requests whose answer a test looks at ---- */

/* An answer: its status, its JSON (owned) and its X-Request-Id, which an
 * event written by the request must name. */
struct answer {
    long status;
    json_t *json;
    char request_id[80];
};

void answer_free(struct answer *a);

/* One request (body taken; NULL sends none) from `source` (NULL: the
 * default address), which must answer `want` with an X-Request-Id. */
void step_from(const struct th_orgd *o, const char *source, const char *method, const char *path,
               const char *token, json_t *body, long want, struct answer *a);
void step(const struct th_orgd *o, const char *method, const char *path, const char *token,
          json_t *body, long want, struct answer *a);

/* [before, after] as an event's changes hold them (NULL: null). */
json_t *pair(const char *before, const char *after);
/* Compact, keys sorted (caller frees). */
char *dump(const json_t *j);

/* ---- reading the log as a client does ---- */

/* GET path with Accept: application/x-ndjson, which must answer 200 in
 * that type, each line ended by a newline (a stream cut short has no
 * last newline). The raw text: caller frees. */
char *ndjson_text(const struct th_orgd *o, const char *path, const char *token);
/* The events of an NDJSON text, in its order (a new array). */
json_t *ndjson_parse(const char *text);
/* The whole log at path, oldest first (NDJSON). */
json_t *events_of(const struct th_orgd *o, const char *path, const char *token);
/* The events of `all` whose action is `action`, or of its family when it
 * ends in ".*". */
json_t *filtered(const json_t *all, const char *action);
/* The events of a list as NDJSON (caller frees). */
char *as_ndjson(const json_t *events);

/* ---- verifying a chain in Python, from its rendering alone ---- */

/* Runs verify_chain.py on an NDJSON text (org_id NULL: any org); its exit
 * code, its one line of output into out. */
int verify_in_python(const char *text, const char *org_id, char *out, size_t cap);
/* Fails unless verify_chain.py accepts text as a whole chain of n events
 * of org_id (NULL: any) whose head is `head` (NULL: not checked). */
void expect_python_verifies(const char *text, const char *org_id, size_t n, const char *head);

/* ---- the log as stored (collection `events`), read with libmongoc ---- */

/* The stored events matching: in `chain` and of `action` when not NULL,
 * and whose canonical text holds `needle` when not NULL; by chain, then
 * seq; rendered as the API renders them (a new array). */
json_t *db_events(const struct th_orgd *o, const char *chain, const char *action,
                  const char *needle);
size_t db_count_events(const struct th_orgd *o, const char *chain, const char *action,
                       const char *needle);
/* The chain an org's events are in: "org:<org_id>". */
void chain_of_org(const char *org_id, char *out, size_t cap);
/* Every chain of o's database, as stored, verified by verify_chain.py:
 * what someone holding a dump of the log (and nothing of orgd) can do.
 * Returns how many chains there are. */
size_t expect_every_chain_verifies(const struct th_orgd *o);

/* ---- what an event must say ---- */

/* Who an event must name: an account acting in a request (its session,
 * or "" for none), or the system (recovery). */
struct actor {
    bool system;
    char account_id[32];
    char session_id[32];
    char request_id[80];
    char client[48];
};

void actor_set(struct actor *a, const char *account_id, const char *session_id,
               const char *request_id, const char *client);

extern const struct actor RECOVERY;

/* Fails unless ev is `action` on (target_type, target_id) in org_id's
 * chain (NULL: an account's, org_id null), by `who`, written just now,
 * with exactly the changes `want` (taken) plus, optionally, those of `may`
 * (taken, may be NULL): changes that may be recorded, each with the only
 * value it may have. */
void expect_event(const json_t *ev, const char *action, const char *org_id, const char *target_type,
                  const char *target_id, const struct actor *who, json_t *want, json_t *may);

/* ---- no secret in an event ---- */

/* Fails if any stored event of o's database (the whole document, its
 * canonical text among it) holds a password a test sent, a token orgd
 * issued (or a JWT's signature), o's JWT secret, an argon2 hash, a webhook
 * secret (whsec_), or one of `also` (NULL-terminated, may be NULL); or if
 * there is no event to look at. Returns how many events were read. */
size_t expect_no_secret_in_events(const struct th_orgd *o, const char *const *also);

/* The case a program on the shared orgd runs last but the harness's
 * closing ones: every event the cases before it wrote there, read from
 * the database, holds no password sent, no token received, no password
 * hash, no webhook secret; and every chain there verifies in Python. */
void no_event_holds_a_secret(void **state);

/* ---- processes ---- */

/* Stops o, which must exit 0. Its shutdown waits for idle keep-alive
 * connections, and this thread's libcurl handle keeps one: one last
 * request with Connection: close ends it first, so that a stop takes
 * milliseconds, not seconds. */
void stop_orgd(struct th_orgd *o);

/* ---- an org's path helpers ---- */

/* The org's log by id: /organization/<org_id>/events. */
void events_path(char *out, size_t cap, const char *org_id);

#endif
