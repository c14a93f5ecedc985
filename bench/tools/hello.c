/* A one-process HTTP/1.0 responder for bench/network.sh's connection-rate
 * test: accept, read the request, answer, close; no fork per connection
 * (busybox httpd's fork would be what is measured, not the path to it). */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int s = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1024)) return 1;
    static const char reply[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhi\n";
    char buf[4096];
    for (;;) {
        int c = accept(s, 0, 0);
        if (c < 0) continue;
        if (read(c, buf, sizeof buf) > 0) write(c, reply, sizeof reply - 1);
        close(c);
    }
}
