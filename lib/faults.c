#include "faults.h"

#ifdef ORGD_FAULTS
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char armed[64];

bool faults_arm(const char *name)
{
    snprintf(armed, sizeof armed, "%s", name);
    return true;
}

void faults_hit(const char *name)
{
    if (armed[0] == '\0')
        return;
    if (strncmp(armed, "pause:", 6) == 0 && strcmp(armed + 6, name) == 0) {
        log_text(LOG_WARN, "fault point reached: pausing", "%s", name);
        sleep(FAULT_PAUSE_SECONDS);
        return;
    }
    if (strcmp(armed, name) == 0) {
        log_text(LOG_ERROR, "fault point reached: killing the process", "%s", name);
        raise(SIGKILL);
        _exit(137);
    }
}
#else
bool faults_arm(const char *name)
{
    return name == 0 || name[0] == '\0';
}
#endif
