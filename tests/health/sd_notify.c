/* A minimal sd_notify(3) sender for tests/health.rs, built with
 * `gcc -static` so it runs in the busybox fixture: sends argv[1] as one
 * datagram to the unix socket named by $NOTIFY_SOCKET. Exits 2 when the
 * variable is missing, 1 when the send fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (argc < 2 || path == NULL || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "usage: NOTIFY_SOCKET=PATH sd_notify MESSAGE\n");
        return 2;
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        perror("socket");
        return 1;
    }
    if (sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("sendto");
        return 1;
    }
    return 0;
}
