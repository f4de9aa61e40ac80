/*
 * vr-launch: the first process of a bwrap sandbox's command. It runs the program as its child
 * and reports how the program ended on a pipe, because bwrap cannot: bwrap turns "killed by
 * signal N" into exit status 128+N, which a program can also return by itself.
 *
 *     vr-launch STATUS_FD PROGRAM [ARG...]
 *
 * writes one line to STATUS_FD once PROGRAM ends: "exit <code>\n" or "signal <number>\n", then
 * exits the way PROGRAM did (128+N after a signal). The report fd is close-on-exec, and the
 * launcher makes itself non-dumpable, so the program (same uid) can neither inherit it nor open
 * it through /proc/<pid>/fd: it cannot forge a report. If the program kills the launcher, no
 * report arrives and the backend falls back to bwrap's exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: vr-launch STATUS_FD PROGRAM [ARG...]\n");
        return 125;
    }
    char *end = NULL;
    long fd = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || fd < 3 || fd > 1024 ||
        fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0) {
        fprintf(stderr, "vr-launch: bad status fd %s\n", argv[1]);
        return 125;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        perror("vr-launch: prctl");
        return 125;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("vr-launch: fork");
        return 125;
    }
    if (pid == 0) {
        execvp(argv[2], &argv[2]);
        fprintf(stderr, "cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("vr-launch: waitpid");
            return 125;
        }
    }
    char line[64];
    int code, len;
    if (WIFSIGNALED(status)) {
        len = snprintf(line, sizeof line, "signal %d\n", WTERMSIG(status));
        code = 128 + WTERMSIG(status);
    } else {
        len = snprintf(line, sizeof line, "exit %d\n", WEXITSTATUS(status));
        code = WEXITSTATUS(status);
    }
    ssize_t written;
    do {
        written = write((int)fd, line, (size_t)len);
    } while (written < 0 && errno == EINTR);
    return code;
}
