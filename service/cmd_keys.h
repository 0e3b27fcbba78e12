/* cmd_keys.h — `orgd keys`: makes, promotes, retires and lists the ES256
 * signing keys of JWT_KEYS_FILE (see cmd_keys.c). */
#ifndef ORGD_CMD_KEYS_H
#define ORGD_CMD_KEYS_H

/* argv as main's, argv[1] being "keys"; returns the exit code. */
int cmd_keys(int argc, char **argv);

#endif
