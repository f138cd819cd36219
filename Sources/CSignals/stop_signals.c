#include "stop_signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t requested;

/// Async-signal-safe: a flag the first time; the default action the second.
static void on_stop_signal(int number) {
    if (requested) {
        signal(number, SIG_DFL);
        raise(number);
        _exit(128 + number); /* only if the default action returned */
    }
    requested = number;
}

static void set_action(void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART; /* reads and writes in progress carry on */
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
}

void mf_catch_stop_signals(void) { set_action(on_stop_signal); }

int mf_stop_signal(void) { return requested; }

void mf_release_stop_signals(void) { set_action(SIG_DFL); }

int mf_send_signal_to_self(int number) { return raise(number); }
