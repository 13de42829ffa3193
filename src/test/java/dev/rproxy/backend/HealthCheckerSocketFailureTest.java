package dev.rproxy.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.HealthCheckConfig;
import dev.rproxy.testbackend.TestBackend;
import io.netty.channel.ChannelException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Probe rounds whose socket cannot even be created (what EMFILE does to {@code socket()}): Netty
 * then hands back a failed connect whose channel never reached an event loop. Each such round is
 * a failed probe, and the schedule goes on, so the backend is healthy again once sockets can be
 * had.
 */
class HealthCheckerSocketFailureTest {

    /** A channel whose constructor fails while {@link #failuresLeft} is positive. */
    public static final class ScarceSocketChannel extends NioSocketChannel {
        static final AtomicInteger failuresLeft = new AtomicInteger();
        static final AtomicInteger attempts = new AtomicInteger();

        public ScarceSocketChannel() {
            super(create());
        }

        private static java.nio.channels.SocketChannel create() {
            attempts.incrementAndGet();
            if (failuresLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                throw new ChannelException("simulated: Too many open files");
            }
            try {
                return java.nio.channels.SocketChannel.open();
            } catch (java.io.IOException e) {
                throw new ChannelException(e);
            }
        }
    }

    @Test
    void roundsWithoutASocketAreFailedProbesAndLaterRoundsStillRun() throws Exception {
        EventLoopGroup loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try (TestBackend server = TestBackend.start("b", "127.0.0.1", 0)) {
            BackendGroup group = new BackendGroup(List.of(new BackendConfig("b", server.url())));
            Backend backend = group.all().get(0);
            List<Boolean> transitions = new CopyOnWriteArrayList<>();
            backend.setListener(b -> transitions.add(b.isHealthy()));
            ScarceSocketChannel.failuresLeft.set(3);
            ScarceSocketChannel.attempts.set(0);
            HealthCheckConfig config = new HealthCheckConfig(true, "/_health", 50, 1000, 1, 1);

            try (HealthChecker checker = new HealthChecker(group, config, loops, ScarceSocketChannel.class)) {
                checker.start();
                assertThat(checker.awaitFirstRound(5, TimeUnit.SECONDS)).isTrue();

                // The first round had no socket: down at once (first result decides).
                await().atMost(Duration.ofSeconds(5)).until(() -> transitions.contains(false));
                // Three rounds fail, the fourth gets its socket and an answer.
                await().atMost(Duration.ofSeconds(5)).until(() -> transitions.equals(List.of(false, true)));
                assertThat(backend.isHealthy()).isTrue();
                // And the schedule is still alive: more rounds follow.
                int seen = ScarceSocketChannel.attempts.get();
                await().atMost(Duration.ofSeconds(5)).until(() -> ScarceSocketChannel.attempts.get() >= seen + 3);
                assertThat(backend.isHealthy()).isTrue();
            }
        } finally {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5000);
        }
    }
}
