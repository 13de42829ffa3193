package dev.rproxy.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.rproxy.backend.Backend;
import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.memory.BufferBudget;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.unix.FileDescriptor;
import io.netty.channel.unix.Socket;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A connection the pool opens while its event loop is still dispatching one batch of epoll events.
 *
 * <p>epoll reports readiness per file descriptor number, and Netty's epoll transport (4.2.18) finds
 * the channel for each reported number in a map keyed by that number alone. When a handler closes
 * one channel (its number goes back to the kernel) and then opens a new socket in the same batch,
 * the new socket gets that lowest free number, and an event the closed channel still had in the
 * batch is dispatched to the new, not yet connected channel: a read on it fails
 * (NotYetConnectedException, or the channel is shut down on a stale EPOLLRDHUP), the channel is
 * closed, and its connect fails with a ClosedChannelException that has no message. In the proxy
 * that was a client connection closed by a failed flush (the client had reset) while the backend's
 * bytes for it were relayed, followed in the same batch by another client's request that needed a
 * new backend connection: "502 backend connection failed (backend b1: null)".
 *
 * <p>The test builds that batch deterministically: the loop is held by a task while one socket
 * (trigger) and then another (victim) become readable; the trigger's handler closes the victim and
 * acquires from the pool, as the relay does.
 */
class ConnectDuringIoBatchTest {
    private EventLoopGroup group;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void aConnectionOpenedWhileAClosedChannelsEventIsPendingStillConnects() throws Exception {
        assumeTrue(Epoll.isAvailable(), "the fd-keyed dispatch is specific to the epoll transport");
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        EventLoop loop = group.next();
        InetAddress loopback = InetAddress.getLoopbackAddress();

        // The backend only needs to complete TCP handshakes: the kernel does that from the backlog.
        ServerSocket backend = track(new ServerSocket(0, 50, loopback));
        ServerSocket peers = track(new ServerSocket(0, 50, loopback));

        Backend b1 = new Backend(new BackendConfig("b1", "http://127.0.0.1:" + backend.getLocalPort()));
        BufferBudget budget = new BufferBudget(0, TimeoutsConfig.DEFAULT.idleMs());
        UpstreamPools pools = new UpstreamPools(EpollSocketChannel.class, new io.netty.channel.ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new DiscardHandler());
                    }
                },
                new DiscardHandler(), PoolConfig.DEFAULT, TimeoutsConfig.DEFAULT, budget, new ConnectionLedger(Integer.MAX_VALUE, 0), 1);
        UpstreamPool pool = loop.submit(() -> pools.pool(loop, b1)).get();

        CompletableFuture<Object> outcome = new CompletableFuture<>();
        UpstreamPool.Acquirer acquirer = new UpstreamPool.Acquirer() {
            @Override
            public void acquired(Channel channel) {
                outcome.complete(channel);
            }

            @Override
            public void acquireFailed(Throwable cause) {
                outcome.complete(cause);
            }
        };

        Channel victim = connect(loop, peers, new DiscardHandler());
        java.net.Socket victimPeer = track(peers.accept());
        Channel[] victimRef = {victim};
        Channel trigger = connect(loop, peers, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
                // As the relay does in one batch: a channel closes at once (a failed flush), then
                // another request needs a new backend connection.
                victimRef[0].close();
                pool.acquire(acquirer);
            }
        });
        java.net.Socket triggerPeer = track(peers.accept());

        // Fill every free descriptor number below the victim's, so the pool's next socket is
        // numbered like the victim once it closes (the kernel hands out the lowest free number).
        int victimFd = ((UnixChannel) victim).fd().intValue();
        List<FileDescriptor> fillers = new ArrayList<>();
        for (Socket s = Socket.newSocketStream(); ; s = Socket.newSocketStream()) {
            if (s.intValue() > victimFd) {
                s.close();
                break;
            }
            fillers.add(s);
        }
        closeables.add(() -> {
            for (FileDescriptor fd : fillers) {
                fd.close();
            }
        });

        // Two round trips through the loop: readiness reported earlier for the two channels (their
        // connects) has been re-checked by epoll_wait and dropped, so the ready list is empty.
        loop.submit(() -> { }).sync();
        loop.submit(() -> { }).sync();

        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        loop.execute(() -> {
            holding.countDown();
            try {
                release.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertThat(holding.await(5, TimeUnit.SECONDS)).isTrue();
        // Ready list order is the order the sockets became readable: trigger first, victim second.
        triggerPeer.getOutputStream().write('t');
        triggerPeer.getOutputStream().flush();
        victimPeer.getOutputStream().write('v');
        victimPeer.getOutputStream().flush();
        release.countDown();

        Object result = outcome.get(5, TimeUnit.SECONDS);
        assertThat(victim.closeFuture().await(5, TimeUnit.SECONDS)).isTrue();
        assertThat(result)
                .as("the pool's new connection to a listening backend")
                .isInstanceOf(Channel.class);
        Channel upstream = (Channel) result;
        assertThat(upstream.isActive()).isTrue();
        upstream.close().sync();
        trigger.close().sync();
    }

    private Channel connect(EventLoop loop, ServerSocket server, ChannelInboundHandlerAdapter handler) {
        return new Bootstrap().group(loop).channel(EpollSocketChannel.class).handler(handler)
                .connect(new InetSocketAddress(server.getInetAddress(), server.getLocalPort()))
                .syncUninterruptibly().channel();
    }

    private <T extends AutoCloseable> T track(T closeable) {
        closeables.add(closeable);
        return closeable;
    }

    private static final class DiscardHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }
    }
}
