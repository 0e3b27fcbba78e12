/* faults.h — named crash points for the crash-recovery tests.
 *
 * Only a build configured with -DORGD_FAULTS=ON (the test binary
 * orgd-faults) compiles them in; in the shipped `orgd` FAULT() expands to
 * nothing and the names do not exist in the binary. When FAULT_POINT names a
 * step, the process logs one line and kills itself with SIGKILL there, as a
 * crash or an OOM kill would: no cleanup, no undo.
 */
#ifndef ORGD_FAULTS_H
#define ORGD_FAULTS_H

#include <stdbool.h>

#define FAULT_PAUSE_SECONDS 3

/* Sets the armed point ("" disarms). Returns false in a build without faults. */
bool faults_arm(const char *name);

#ifdef ORGD_FAULTS
void faults_hit(const char *name);
#define FAULT(name) faults_hit(name)
#else
#define FAULT(name) ((void)0)
#endif

#endif
