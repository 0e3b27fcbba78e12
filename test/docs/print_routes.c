/* print_routes — prints service/routes.c's table, one "METHOD PATTERN" a
 * line, for routes.mjs to compare with service/openapi.yaml. */
#include <stdio.h>

#include "routes.h"

int main(void)
{
    for (size_t i = 0; i < routes_count; i++)
        printf("%s %s\n", routes[i].method, routes[i].pattern);
    return 0;
}
