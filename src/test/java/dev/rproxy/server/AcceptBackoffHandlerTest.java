package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The pause after a failed accept: 50 ms, doubling to 1 s while failures go on, reset by an accept. */
class AcceptBackoffHandlerTest {

    @Test
    void failuresPauseReadingForGrowingIntervalsAndAnAcceptResetsThem() {
        EmbeddedChannel listener = new EmbeddedChannel(new AcceptBackoffHandler("test"));
        listener.freezeTime(); // only advanceTimeBy moves the clock
        try {
            for (long expectedPause : new long[] {50, 100, 200, 400, 800, 1000, 1000}) {
                listener.pipeline().fireExceptionCaught(new IOException("accept(..) failed: Too many open files"));
                assertThat(listener.config().isAutoRead()).isFalse();
                // A second failure reported during the pause neither extends nor doubles it.
                listener.pipeline().fireExceptionCaught(new IOException("accept(..) failed: Too many open files"));
                listener.advanceTimeBy(expectedPause - 1, TimeUnit.MILLISECONDS);
                listener.runScheduledPendingTasks();
                assertThat(listener.config().isAutoRead()).as("still paused before %d ms", expectedPause).isFalse();
                listener.advanceTimeBy(1, TimeUnit.MILLISECONDS);
                listener.runScheduledPendingTasks();
                assertThat(listener.config().isAutoRead()).as("resumed after %d ms", expectedPause).isTrue();
            }

            listener.writeInbound("an accepted connection");
            assertThat((String) listener.readInbound()).isEqualTo("an accepted connection");
            listener.pipeline().fireExceptionCaught(new IOException("accept(..) failed: Too many open files"));
            listener.advanceTimeBy(50, TimeUnit.MILLISECONDS);
            listener.runScheduledPendingTasks();
            assertThat(listener.config().isAutoRead()).isTrue();
            listener.checkException(); // nothing reached the end of the pipeline
        } finally {
            assertThat(listener.finishAndReleaseAll()).isFalse();
        }
    }
}
