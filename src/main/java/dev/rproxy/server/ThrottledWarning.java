package dev.rproxy.server;

import io.netty.util.concurrent.EventExecutor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * A warning that may recur thousands of times a second (refused connections, failed accepts):
 * the first occurrence after a quiet interval is logged in full by the caller, the ones that follow
 * within the interval only counted, and one summary line per interval reports the count, until an
 * interval passes without any.
 *
 * <p>Thread-safe: occurrences may be reported from several event loops at once. A count that
 * races with the end of a window is reported with the next window's summary, never lost.
 */
final class ThrottledWarning {
    private final Logger log;
    private final long intervalMs;
    private final String summaryFormat;
    private final AtomicBoolean windowOpen = new AtomicBoolean();
    private final AtomicLong suppressed = new AtomicLong();

    /**
     * @param summaryFormat an SLF4J format with two arguments: the count of occurrences not logged,
     *     and the interval in seconds
     */
    ThrottledWarning(Logger log, long intervalMs, String summaryFormat) {
        this.log = log;
        this.intervalMs = intervalMs;
        this.summaryFormat = summaryFormat;
    }

    /**
     * Reports one occurrence; returns whether the caller should log it in full. {@code timers}
     * runs the summary at the end of the interval.
     */
    boolean occurred(EventExecutor timers) {
        if (windowOpen.compareAndSet(false, true)) {
            scheduleSummary(timers);
            return true;
        }
        suppressed.incrementAndGet();
        return false;
    }

    private void scheduleSummary(EventExecutor timers) {
        try {
            timers.schedule(() -> summarize(timers), intervalMs, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            windowOpen.set(false); // shutting down: nothing is left to summarize for
        }
    }

    private void summarize(EventExecutor timers) {
        long count = suppressed.getAndSet(0);
        if (count == 0) {
            windowOpen.set(false);
            return;
        }
        log.warn(summaryFormat, count, intervalMs / 1000);
        scheduleSummary(timers); // the window stays open while occurrences keep coming
    }
}
