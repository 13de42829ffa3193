package dev.rproxy.server;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The I/O transport: native epoll on Linux when it loads (fewer copies and syscalls, edge-triggered),
 * NIO everywhere else; io_uring (Linux 5.14 or later, where the kernel allows it) when asked for.
 */
public record Transport(
        String name,
        IoHandlerFactory ioHandlerFactory,
        Class<? extends ServerChannel> serverChannelClass,
        Class<? extends Channel> channelClass) {

    /**
     * Resolves the configured preference: {@code auto} takes epoll when available, {@code epoll}
     * and {@code io_uring} require theirs, {@code nio} forces NIO.
     */
    public static Transport choose(String preference) {
        if ("io_uring".equals(preference)) {
            if (!IoUring.isAvailable()) {
                throw new IllegalStateException("server.transport: io_uring is not available here ("
                        + IoUring.unavailabilityCause() + ")");
            }
            return new Transport("io_uring", IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class,
                    IoUringSocketChannel.class);
        }
        boolean wantEpoll = !"nio".equals(preference);
        if (wantEpoll && Epoll.isAvailable()) {
            return new Transport("epoll", EpollIoHandler.newFactory(), EpollServerSocketChannel.class, EpollSocketChannel.class);
        }
        if ("epoll".equals(preference)) {
            throw new IllegalStateException("server.transport: epoll is not available here ("
                    + Epoll.unavailabilityCause() + ")");
        }
        return new Transport("nio", NioIoHandler.newFactory(), NioServerSocketChannel.class, NioSocketChannel.class);
    }

    public EventLoopGroup newGroup(int threads, String threadPrefix) {
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(threadPrefix, true), ioHandlerFactory);
    }
}
