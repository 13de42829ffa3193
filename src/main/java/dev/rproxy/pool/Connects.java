package dev.rproxy.pool;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import java.util.function.Consumer;

/**
 * Starts outbound connections whose attempt may fail before the channel ever reaches its event
 * loop.
 *
 * <p>When the socket cannot be created (EMFILE, ENFILE: out of file descriptors) or registration
 * fails, {@link Bootstrap#connect()} hands back a failed future whose channel was never registered:
 * its listeners run on Netty's global executor instead of the loop, and closing that channel
 * throws {@code IllegalStateException: channel not registered to an event loop}. {@link #start}
 * turns that case, and any exception thrown by {@code connect()} itself, into one synchronous
 * callback on the calling loop, so callers handle it like any other connect failure and never
 * touch such a channel.
 */
public final class Connects {

    private Connects() {
    }

    /**
     * Calls {@code bootstrap.connect()} from the loop the bootstrap registers its channel with, so
     * registration is complete when {@code connect()} returns.
     *
     * @return the connect future, whose channel is registered (its listeners run on the loop and
     *     closing it is safe); or {@code null} when the attempt failed before registration, in which
     *     case {@code failedEarly} has already been called with the cause and there is nothing to
     *     close (Netty has released the socket, if one was created)
     */
    public static ChannelFuture start(Bootstrap bootstrap, Consumer<Throwable> failedEarly) {
        assert ((EventLoop) bootstrap.config().group()).inEventLoop();
        ChannelFuture connect;
        try {
            connect = bootstrap.connect();
        } catch (RuntimeException e) {
            failedEarly.accept(e);
            return null;
        }
        if (connect.isDone() && !connect.isSuccess() && !connect.channel().isRegistered()) {
            failedEarly.accept(connect.cause());
            return null;
        }
        return connect;
    }

    /**
     * Runs {@code open}, which makes a new socket, from a task on {@code loop}, never from the
     * caller's stack. The caller may be a handler in the middle of the loop's batch of epoll events,
     * and a socket made there gets the lowest free descriptor number, often that of a channel closed
     * earlier in the same batch (a client connection closed by a failed flush after a reset).
     * Netty's epoll transport finds a channel by that number alone, so an event the closed channel
     * still had in the batch would reach the new, unconnected channel, which then fails and closes:
     * the connect fails with a message-less ClosedChannelException, and a healthy backend would be
     * answered 502 and counted as failing. Tasks run only after the batch.
     */
    public static void later(EventLoop loop, Runnable open) {
        loop.execute(open);
    }

    /**
     * A one-line reason for a connect failure: the message of the exception and of each cause
     * behind it ({@code Unable to create Channel from class ...: newSocketStream(..) failed: Too
     * many open files}), without repeats.
     */
    public static String describe(Throwable failure) {
        StringBuilder out = new StringBuilder();
        String last = null;
        int depth = 0;
        for (Throwable t = failure; t != null && depth < 8; t = t.getCause(), depth++) {
            if (t.getMessage() == null && t.getCause() != null) {
                continue; // a wrapper such as InvocationTargetException says nothing of its own
            }
            String message = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
            if (last != null && last.contains(message)) {
                continue;
            }
            if (out.length() > 0) {
                out.append(": ");
            }
            out.append(message);
            last = message;
        }
        return out.toString();
    }
}
