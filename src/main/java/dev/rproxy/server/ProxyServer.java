package dev.rproxy.server;

import dev.rproxy.backend.BackendGroup;
import dev.rproxy.backend.HealthChecker;
import dev.rproxy.backend.RoundRobinSelector;
import dev.rproxy.config.ProxyConfig;
import dev.rproxy.pool.UpstreamChannelInitializer;
import dev.rproxy.pool.UpstreamPools;
import dev.rproxy.proxy.RelayHandler;
import dev.rproxy.proxy.Tunnel;
import dev.rproxy.proxy.RelayServices;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns the event loops, the listening socket, the upstream pools and the health checker.
 *
 * <p>Lifecycle: {@link #start()} probes every backend once (bounded by the probe timeout), then
 * binds; {@link #shutdown()} stops accepting, lets in-flight exchanges finish within the grace
 * period, then closes everything. Both are called from a plain thread, never from an event loop.
 */
public final class ProxyServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ProxyServer.class);
    static final WriteBufferWaterMark CLIENT_WATER_MARK = new WriteBufferWaterMark(32 * 1024, 128 * 1024);

    private final ProxyConfig config;
    private final Transport transport;
    private final BackendGroup backends;
    private final EventLoopGroup bossGroup;
    private final EventLoopGroup workerGroup;
    private final ChannelGroup clients = new DefaultChannelGroup("clients", GlobalEventExecutor.INSTANCE);
    private final UpstreamPools pools;
    private final HealthChecker healthChecker;
    private Channel serverChannel;
    private boolean stopped;

    public ProxyServer(ProxyConfig config) {
        this.config = config;
        this.transport = Transport.choose(config.server().transport());
        int threads = config.server().ioThreads() > 0 ? config.server().ioThreads() : Runtime.getRuntime().availableProcessors();
        this.bossGroup = transport.newGroup(1, "proxy-accept");
        this.workerGroup = transport.newGroup(threads, "proxy-io");
        this.backends = new BackendGroup(config.backends());
        this.pools = new UpstreamPools(backends.all(), transport.channelClass(),
                new UpstreamChannelInitializer(config.pool(), config.limits()), config.pool(), config.timeouts(), threads);
        this.healthChecker = config.healthCheck().enabled()
                ? new HealthChecker(backends, config.healthCheck(), workerGroup, transport.channelClass())
                : null;
    }

    /** Probes the backends once, binds the listening socket and returns its address. */
    public InetSocketAddress start() throws InterruptedException {
        if (healthChecker != null) {
            healthChecker.start();
            long wait = config.healthCheck().timeoutMs() + 100;
            if (!healthChecker.awaitFirstRound(wait, TimeUnit.MILLISECONDS)) {
                log.warn("first health probes not all answered within {} ms; starting anyway", wait);
            }
        }
        RelayServices services = new RelayServices(new RoundRobinSelector(backends), pools, healthChecker,
                config.timeouts(), config.accessLog().enabled(), config.limits(),
                new HealthEndpoint(backends));
        DescriptorBudget descriptors = DescriptorBudget.measure(config.server().descriptorReserve());
        int configuredCap = config.limits().maxConnections();
        int maxConnections = descriptors.effectiveCap(configuredCap);
        if (configuredCap > maxConnections) {
            log.warn("limits.maxConnections {} is more than the file descriptors allow; using {} ({}; "
                    + "(limit - open - reserve) / 2)", configuredCap, maxConnections, descriptors.describe());
        }
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(bossGroup, workerGroup)
                .channel(transport.serverChannelClass())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel listener) {
                        listener.pipeline().addLast("acceptBackoff", new AcceptBackoffHandler(
                                descriptors.describe() + ", at most " + maxConnections + " client connections"));
                        listener.pipeline().addLast("connectionCap", new ConnectionCap(maxConnections));
                    }
                })
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                // A client may send its request and shut down its sending side (HTTP/1.0 tools
                // do); it still gets its response.
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, CLIENT_WATER_MARK)
                .childHandler(new ServerChannelInitializer(services, backends, config.limits(), config.timeouts(),
                        config.security(), clients));
        serverChannel = bootstrap.bind(config.listen().host(), config.listen().port()).sync().channel();
        InetSocketAddress bound = (InetSocketAddress) serverChannel.localAddress();
        log.info("listening on {}:{} ({}, {} io threads, at most {} client connections; {}); backends: {}",
                config.listen().host(), bound.getPort(), transport.name(),
                config.server().ioThreads() > 0 ? config.server().ioThreads() : Runtime.getRuntime().availableProcessors(),
                maxConnections == Integer.MAX_VALUE ? "unlimited" : maxConnections, descriptors.describe(),
                backends.all());
        return bound;
    }

    /** The bound port; valid after {@link #start()}. */
    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    public BackendGroup backends() {
        return backends;
    }

    /** Number of open client connections. */
    public int clientConnections() {
        return clients.size();
    }

    /**
     * Graceful stop: no new connections; idle keep-alive connections close now; exchanges in flight
     * get up to {@code shutdown.graceMs} to finish, after which their connections are closed.
     */
    public synchronized void shutdown() {
        if (stopped) {
            return;
        }
        stopped = true;
        long graceMs = config.shutdown().graceMs();
        log.info("shutting down: {} client connections, grace {} ms", clients.size(), graceMs);
        if (serverChannel != null) {
            serverChannel.close().awaitUninterruptibly();
        }
        for (Channel ch : clients) {
            ch.eventLoop().execute(() -> {
                RelayHandler relay = ch.pipeline().get(RelayHandler.class);
                if (relay != null) {
                    relay.drain();
                } else if (!Tunnel.isTunnel(ch)) {
                    ch.close();
                } // a tunnel (WebSocket) runs until it ends or the grace period does
            });
        }
        if (!clients.newCloseFuture().awaitUninterruptibly(graceMs)) {
            log.warn("grace period over, closing {} remaining connections", clients.size());
        }
        clients.close().awaitUninterruptibly(1000);
        if (healthChecker != null) {
            healthChecker.close();
        }
        pools.close();
        workerGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5000);
        bossGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5000);
        log.info("stopped");
    }

    @Override
    public void close() {
        shutdown();
    }
}
