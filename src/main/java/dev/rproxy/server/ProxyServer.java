package dev.rproxy.server;

import dev.rproxy.backend.BackendGroup;
import dev.rproxy.config.ListenConfig;
import dev.rproxy.backend.Backend;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.ConfigLoader;
import dev.rproxy.config.ProxyConfig;
import dev.rproxy.config.UpstreamConfig;
import dev.rproxy.config.RedisConfig;
import dev.rproxy.edge.ClientIdentity;
import dev.rproxy.fleet.Fleet;
import dev.rproxy.memory.BudgetedRecvAllocator;
import dev.rproxy.memory.BufferBudget;
import dev.rproxy.pool.ConnectionLedger;
import dev.rproxy.pool.UpstreamPools;
import dev.rproxy.http.IdleClients;
import dev.rproxy.admin.ProxyMetrics;
import dev.rproxy.proxy.AccessLog;
import dev.rproxy.proxy.RelayHandler;
import dev.rproxy.proxy.Tunnel;
import dev.rproxy.proxy.UpstreamChannelInitializer;
import dev.rproxy.proxy.Snapshot;
import dev.rproxy.routing.Upstream;
import dev.rproxy.routing.Upstreams;
import io.netty.bootstrap.ServerBootstrap;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
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
    static final WriteBufferWaterMark CLIENT_WATER_MARK = BufferBudget.NORMAL_MARKS;

    /** The configuration in force: replaced by a reload. */
    private volatile ProxyConfig config;
    /** Where the configuration was read from, for reloads; {@code null}: none (reload refused). */
    private final Path configFile;
    private final Transport transport;
    private volatile Upstreams upstreamGroups;
    /** Membership in a fleet sharing global limits through Redis; {@code null} without {@code redis}. */
    private volatile Fleet fleet;
    private final EventLoopGroup bossGroup;
    private final EventLoopGroup workerGroup;
    private final ChannelGroup clients = new DefaultChannelGroup("clients", GlobalEventExecutor.INSTANCE);
    private final ChannelGroup upstreams = new DefaultChannelGroup("upstreams", GlobalEventExecutor.INSTANCE);
    private final BufferBudget budget;
    private final int ioThreads;
    private final DescriptorBudget descriptors;
    private final ConnectionLedger ledger;
    private final Map<EventExecutor, IdleClients> idleClients;
    private ScheduledFuture<?> budgetSampler;
    private int samplesUnderPressure;
    private final UpstreamPools pools;
    /** The listeners' TLS as loaded with the configuration, for {@link #start()}. */
    private final List<TlsContexts> initialTls;
    /** The proxied listeners; set up by {@link #start()}. */
    private Listeners listeners;
    private final ExecutorService reloads = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "config-reload");
        t.setDaemon(true);
        return t;
    });
    private final AtomicLong reloadsApplied = new AtomicLong();
    private final AtomicLong reloadsRefused = new AtomicLong();
    /** Access log lines dropped (the writer could not keep up), across reloads. */
    private final AtomicLong accessLogDropped = new AtomicLong();
    /** Access logs a reload replaced, until they are closed a grace period later (or at shutdown). */
    private final Set<AccessLog> retiredLogs = ConcurrentHashMap.newKeySet();
    private ScheduledFuture<?> configWatch;
    private long watchedStamp;
    private ScheduledFuture<?> certificateWatch;
    /** The admin listener; {@code null} when none is configured. */
    private Channel adminChannel;
    /** The settings exchanges use, swapped as a whole; set by {@link #start()}. */
    private Snapshot.Current snapshots;
    private AccessLog accessLog;
    private final ProxyMetrics metrics = new ProxyMetrics();
    /** What /metrics on the admin listener exposes: the request counters, the state gauges, the JVM. */
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private boolean stopped;

    /** How often the configuration file is checked for a change, with {@code watchConfig}. */
    static final long CONFIG_CHECK_MS = 1000;

    /** How long start waits at most for the first answer of discovered upstreams (before their first probes). */
    static final long DISCOVERY_START_MS = 2000;

    /** How often certificate files are checked for a change on disk. */
    static final long CERTIFICATE_CHECK_MS = 2000;

    /**
     * Loads what the listeners need (certificates); a file that does not load is a {@link
     * dev.rproxy.config.ConfigException} naming it.
     */
    public ProxyServer(ProxyConfig config) {
        this(config, null);
    }

    /** @param configFile where {@code config} was read from: a reload reads it again */
    public ProxyServer(ProxyConfig config, Path configFile) {
        this.config = config;
        this.configFile = configFile;
        this.initialTls = loadTls(config);
        this.transport = Transport.choose(config.server().transport());
        int threads = config.server().ioThreads() > 0 ? config.server().ioThreads() : Runtime.getRuntime().availableProcessors();
        this.ioThreads = threads;
        this.bossGroup = transport.newGroup(1, "proxy-accept");
        this.workerGroup = transport.newGroup(threads, "proxy-io");
        this.idleClients = IdleClients.forLoops(workerGroup);
        this.fleet = config.redis() == null ? null : newFleet(config.redis());
        try {
            this.upstreamGroups = new Upstreams(config, workerGroup, transport.channelClass(), metrics, null, fleet);
        } catch (RuntimeException e) {
            if (fleet != null) {
                fleet.close();
            }
            throw e;
        }
        this.budget = new BufferBudget(config.limits().maxBufferBytes(), config.timeouts().idleMs());
        this.descriptors = DescriptorBudget.measure(config.server().descriptorReserve());
        this.ledger = new ConnectionLedger(descriptors.connections(), config.server().descriptorReserve());
        this.pools = new UpstreamPools(transport.channelClass(),
                new UpstreamChannelInitializer(config.pool(), config.limits(), budget, upstreams),
                UpstreamChannelInitializer.streams(), config.pool(),
                config.timeouts(), budget, ledger, threads);
        upstreamGroups.onLeaving(pools::retire);
    }

    private Fleet newFleet(RedisConfig redis) {
        Fleet.Mode failMode = switch (redis.failMode()) {
            case RedisConfig.OPEN -> Fleet.Mode.OPEN;
            case RedisConfig.CLOSED -> Fleet.Mode.CLOSED;
            default -> Fleet.Mode.LOCAL;
        };
        return new Fleet(redis.url(), redis.timeoutMs(), failMode, workerGroup, transport.channelClass());
    }

    /**
     * Joins the fleet and waits up to a second for Redis, so that a proxy that can reach it starts
     * with its global limits shared; one that cannot starts in its fail mode and joins when Redis answers.
     */
    private void startFleet(Fleet f) {
        f.start();
        if (!f.awaitGlobal(FLEET_WAIT_MS)) {
            log.warn("fleet: Redis did not answer within {} ms; global limits start in fail mode {}", FLEET_WAIT_MS,
                    f.mode().label());
        }
    }

    /** How long start waits for Redis to answer a first heartbeat. */
    static final long FLEET_WAIT_MS = 1000;

    /**
     * Loads what {@code config} names beyond itself (listener certificates and keys, backend CA
     * files and client certificates) without opening anything: a file that does not load is a
     * {@link dev.rproxy.config.ConfigException} naming its JSON path, as at start.
     */
    public static void check(ProxyConfig config) {
        loadTls(config);
        new Upstreams(config, null, null);
    }

    /** Each listener's TLS, in the order of {@code listen}; {@code null} for a plaintext one. */
    private static List<TlsContexts> loadTls(ProxyConfig config) {
        List<ListenConfig> listeners = config.listen();
        List<TlsContexts> contexts = new ArrayList<>(listeners.size());
        for (int i = 0; i < listeners.size(); i++) {
            ListenConfig listener = listeners.get(i);
            String at = listeners.size() == 1 ? "listen.tls" : "listen[" + i + "].tls";
            contexts.add(listener.tls() == null ? null : new TlsContexts(at, listener.tls(), listener.protocols()));
        }
        return contexts;
    }

    /** Probes the backends once, binds the listening sockets and returns the first one's address. */
    public InetSocketAddress start() throws InterruptedException {
        if (fleet != null) {
            startFleet(fleet);
        }
        upstreamGroups.start();
        long wait = upstreamGroups.all().stream().mapToLong(u -> u.config().healthCheck().timeoutMs()).max().orElse(0) + 100
                + (upstreamGroups.all().stream().anyMatch(u -> u.config().discovery() != null) ? DISCOVERY_START_MS : 0);
        if (!upstreamGroups.awaitFirstRound(wait)) {
            log.warn("first health probes not all answered within {} ms; starting anyway", wait);
        }
        budget.listener(this::onPressure);
        budgetSampler = bossGroup.next().scheduleWithFixedDelay(this::sampleBudget, BufferBudget.SAMPLE_MS,
                BufferBudget.SAMPLE_MS, TimeUnit.MILLISECONDS);
        accessLog = AccessLog.open(config.accessLog(), accessLogDropped);
        metrics.enabled(config.metrics().enabled());
        registry.register(metrics);
        registry.register(new ServerMetrics(this::upstreams, pools, clients, budget, reloadsApplied::get,
                reloadsRefused::get, accessLogDropped::get, this::fleet));
        JvmMetrics.builder().register(registry);
        snapshots = new Snapshot.Current(new Snapshot(upstreamGroups, pools,
                config.timeouts(), accessLog, config.limits(), config.security(),
                new HealthEndpoint(upstreamGroups), budget, idleClients, metrics,
                new ClientIdentity(config.trustedBlocks())));
        int configuredCap = config.limits().maxConnections();
        int maxConnections = descriptors.effectiveCap(configuredCap);
        if (configuredCap > maxConnections) {
            log.warn("limits.maxConnections {} is more than the file descriptors allow; using {} ({}; "
                    + "limit - open - reserve, client and backend connections together)", configuredCap, maxConnections,
                    descriptors.describe());
        }
        int maxPerClient = config.limits().maxConnectionsPerClient();
        ClientConnections perClient = maxPerClient > 0 ? new ClientConnections(maxPerClient) : null;
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(bossGroup, workerGroup)
                .channel(transport.serverChannelClass())
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                // A client may send its request and shut down its sending side (HTTP/1.0 tools
                // do); it still gets its response.
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, CLIENT_WATER_MARK)
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, new BudgetedRecvAllocator(budget));
        // Behind a PROXY header the socket's peer is the load balancer: the per-client limit waits
        // for the header's source address there.
        listeners = new Listeners(bootstrap,
                listener -> new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel listening) {
                        listening.pipeline().addLast("acceptBackoff", new AcceptBackoffHandler(
                                descriptors.describe() + ", at most " + maxConnections + " client connections"));
                        listening.pipeline().addLast("connectionCap", new ConnectionCap(maxConnections, ledger,
                                listener.proxyProtocol() ? null : perClient, ProxyServer.this::drainIdleClients));
                    }
                },
                (listener, contexts) -> new ServerChannelInitializer(snapshots, clients, listener, contexts,
                        config.shutdown().graceMs(), listener.proxyProtocol() ? perClient : null));
        List<String> bound = new ArrayList<>();
        for (int i = 0; i < config.listen().size(); i++) {
            bound.add(listeners.bind(config.listen().get(i), initialTls.get(i)));
        }
        if (config.admin() != null) {
            startAdmin();
        }
        if (config.watchConfig() && configFile != null) {
            watchedStamp = stamp(configFile);
            configWatch = bossGroup.next().scheduleWithFixedDelay(this::checkConfigFile, CONFIG_CHECK_MS, CONFIG_CHECK_MS,
                    TimeUnit.MILLISECONDS);
        }
        // Always: a reload may add a TLS listener.
        certificateWatch = bossGroup.next().scheduleWithFixedDelay(this::checkCertificates, CERTIFICATE_CHECK_MS,
                CERTIFICATE_CHECK_MS, TimeUnit.MILLISECONDS);
        log.info("listening on {} ({}, {} io threads, at most {} client connections, with backend connections"
                + " at most {}; {}); upstreams: {}",
                String.join(", ", bound), transport.name(),
                ioThreads,
                maxConnections == Integer.MAX_VALUE ? "unlimited" : maxConnections,
                ledger.budget() == Integer.MAX_VALUE ? "unlimited" : ledger.budget(), descriptors.describe(),
                describeUpstreams());
        if (budget.counting()) {
            log.info("buffer budget {} MiB ({})", budget.limit() >> 20,
                    config.limits().maxBufferBytes() > 0 ? "limits.maxBufferBytes" : "the JVM's direct memory limit");
        } else {
            log.warn("Netty does not count its direct memory here (io.netty.maxDirectMemory=0?): the buffer budget"
                    + " cannot act on memory pressure");
        }
        return listeners.address(0);
    }

    /**
     * The admin listener: HTTP/1.1, requests aggregated (64 KiB at most) for {@link AdminHandler};
     * its connections are not counted among the clients and never proxied.
     */
    private void startAdmin() throws InterruptedException {
        adminChannel = new ServerBootstrap()
                .group(bossGroup, workerGroup)
                .channel(transport.serverChannelClass())
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(64 * 1024),
                                new AdminHandler(ProxyServer.this, registry));
                    }
                })
                .bind(config.admin().host(), config.admin().port()).sync().channel();
        log.info("admin API on {}:{}", config.admin().host(), adminPort());
    }

    /** The admin listener's bound port, or -1 without one; valid after {@link #start()}. */
    public int adminPort() {
        return adminChannel == null ? -1 : ((InetSocketAddress) adminChannel.localAddress()).getPort();
    }

    /** Runs on the accept loop; a failure is logged and the next check still runs. */
    private void checkCertificates() {
        for (TlsContexts contexts : listeners.tls()) {
            try {
                contexts.reloadIfChanged();
            } catch (RuntimeException e) {
                log.error("certificate check failed", e);
            }
        }
    }

    /** Runs on the accept loop; a failure is logged and the next sample still runs. */
    private void sampleBudget() {
        try {
            budget.sample();
        } catch (RuntimeException e) {
            log.error("buffer budget sample failed", e);
        }
    }

    /**
     * On a change of pressure every connection gets the allowance of the new level; under pressure,
     * every 250 ms, each event loop cuts its clients that have left their responses unread too long
     * (see {@link RelayHandler#shedIfStalled}). Runs on the accept loop.
     */
    private void onPressure(BufferBudget.Level level, boolean changed) {
        if (changed) {
            WriteBufferWaterMark marks = budget.waterMark();
            for (Channel ch : clients) {
                ch.config().setWriteBufferWaterMark(marks);
            }
            for (Channel ch : upstreams) {
                ch.config().setWriteBufferWaterMark(marks);
            }
            samplesUnderPressure = 0;
        }
        if (level == BufferBudget.Level.NORMAL || samplesUnderPressure++ % 5 != 0) {
            return;
        }
        for (EventExecutor loop : workerGroup) {
            loop.execute(() -> {
                for (Channel ch : clients) {
                    if (ch.eventLoop() == loop) {
                        RelayHandler relay = ch.pipeline().get(RelayHandler.class);
                        if (relay != null) {
                            relay.shedIfStalled();
                        }
                    }
                }
            });
        }
    }

    /**
     * At the connection cap: each event loop closes its share of {@code count} of its client
     * connections that have had nothing to answer the longest ({@link IdleClients}). Called from
     * the accepting thread; the work runs on each loop, which alone owns its list.
     */
    private void drainIdleClients(int count) {
        int perLoop = (count + ioThreads - 1) / ioThreads;
        for (EventExecutor loop : workerGroup) {
            IdleClients idle = idleClients.get(loop);
            loop.execute(() -> {
                int closed = idle.closeOldest(perLoop);
                if (closed > 0) {
                    log.debug("connection cap reached: closed {} idle client connections", closed);
                }
            });
        }
    }

    // ---------------------------------------------------------------- reload

    /**
     * Reads the configuration file again and applies it, from a thread of its own; the future has
     * the one-line outcome, or fails with the {@link ConfigException} (the same line as at start)
     * when the file is refused and the running configuration stays.
     */
    public CompletableFuture<String> reloadAsync() {
        return CompletableFuture.supplyAsync(() -> {
            try {
                if (configFile == null) {
                    throw new ConfigException("no configuration file to read again");
                }
                return apply(ConfigLoader.load(configFile));
            } catch (ConfigException e) {
                reloadsRefused.incrementAndGet();
                log.error("reload refused, the running configuration stays: {}", e.getMessage());
                throw e;
            } catch (RuntimeException e) {
                // Not a bad file: said all the same, since a signal or a watch has no one to tell.
                reloadsRefused.incrementAndGet();
                log.error("reload failed", e);
                throw e;
            }
        }, reloads);
    }

    /**
     * Applies {@code next} without dropping anything: exchanges, tunnels and HTTP/2 streams in
     * flight finish on the snapshot they started with; new requests get the new routes, upstreams,
     * limits and timeouts. A backend with the same id and settings is carried over with its state
     * and pooled connections; a removed one drains (its pools take no new request and close as
     * their connections come back). A discovered upstream with the same {@code discovery} keeps the
     * backends it found; the new upstreams start before the swap, so one whose discovery changed has
     * its first answer (within {@value #DISCOVERY_START_MS} ms) before it takes requests. Listeners
     * that differ are closed (their connections go on) and
     * the new ones bound. What needs a restart ({@code server}, {@code admin}, {@code
     * limits.maxConnections}, the top-level {@code pool} of carried-over backends) keeps its
     * running value, with a warning.
     */
    synchronized String apply(ProxyConfig next) {
        if (stopped || snapshots == null) {
            throw new ConfigException("the proxy is not running");
        }
        ProxyConfig before = config;
        // Everything that can fail first: nothing has changed if it does.
        Listeners.Plan listenPlan = listeners.plan(next.listen());
        Upstreams previous = upstreamGroups;
        Fleet nextFleet = fleet;
        if (nextFleet == null && next.redis() != null) {
            nextFleet = newFleet(next.redis()); // started below, once nothing can fail
        }
        // No discovered backend leaves the running upstreams while the new ones read them to carry
        // them over; the answers held back are dropped (the new upstreams ask again at once).
        previous.holdDiscovery(true);
        Upstreams nextUpstreams;
        AccessLog log0 = accessLog;
        AccessLog nextLog = null;
        try {
            nextLog = next.accessLog().equals(before.accessLog()) ? log0 : AccessLog.open(next.accessLog(), accessLogDropped);
            // Last: the new upstreams take over the running ones' token verifiers and rate limits,
            // so nothing may fail once they are built.
            nextUpstreams = new Upstreams(next, workerGroup, transport.channelClass(), metrics, previous, nextFleet);
        } catch (RuntimeException e) {
            previous.holdDiscovery(false);
            if (nextLog != null && nextLog != log0) {
                nextLog.close();
            }
            if (nextFleet != fleet) {
                nextFleet.close();
            }
            throw e;
        }
        nextUpstreams.onLeaving(pools::retire);
        if (nextFleet != fleet) {
            fleet = nextFleet;
            startFleet(nextFleet);
        }
        for (String restart : needRestart(before, next)) {
            log.warn("reload: {} changed; it takes effect at the next restart", restart);
        }
        metrics.enabled(next.metrics().enabled());
        // Started before the swap: a discovered upstream whose discovery changed has its first answer
        // (or gives up after a bounded wait) before requests reach it, rather than no backends at all.
        nextUpstreams.start();
        if (!awaitDiscovery(nextUpstreams)) {
            log.warn("reload: no first answer from discovery within {} ms; applying anyway", DISCOVERY_START_MS);
        }
        // The swap: new exchanges see the new snapshot from here on.
        config = next;
        upstreamGroups = nextUpstreams;
        accessLog = nextLog;
        snapshots.set(new Snapshot(nextUpstreams, pools, next.timeouts(), nextLog, next.limits(), next.security(),
                new HealthEndpoint(nextUpstreams), budget, idleClients, metrics,
                new ClientIdentity(next.trustedBlocks())));
        previous.close();
        List<Backend> removed = new ArrayList<>();
        for (Upstream u : previous.all()) {
            for (Backend b : u.backends().all()) {
                if (nextUpstreams.backend(b.id()) != b) {
                    removed.add(b);
                }
            }
        }
        pools.retire(removed);
        String listened = listeners.apply(listenPlan);
        if (nextLog != log0 && log0 != null) {
            // Exchanges that started before may still write to it for a while; closing waits for
            // the loops and the writer, so not on the accept loop.
            retiredLogs.add(log0);
            bossGroup.next().schedule(() -> {
                if (retiredLogs.remove(log0)) {
                    Thread closing = new Thread(log0::close, "access-log-close");
                    closing.setDaemon(true);
                    closing.start();
                }
            }, before.shutdown().graceMs(), TimeUnit.MILLISECONDS);
        }
        reloadsApplied.incrementAndGet();
        String outcome = "configuration reloaded: " + nextUpstreams.all().size() + " upstreams, "
                + (countBackends(nextUpstreams) - countAdded(nextUpstreams, previous)) + " backends kept, "
                + countAdded(nextUpstreams, previous) + " added, " + removed.size() + " removed; listeners: " + listened;
        if (!listened.contains("could not")) {
            log.info(outcome);
        } else {
            log.error(outcome);
        }
        return outcome;
    }

    private static boolean awaitDiscovery(Upstreams upstreams) {
        try {
            return upstreams.awaitDiscovery(DISCOVERY_START_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static int countBackends(Upstreams upstreams) {
        return upstreams.all().stream().mapToInt(u -> u.backends().all().size()).sum();
    }

    private static int countAdded(Upstreams next, Upstreams previous) {
        int added = 0;
        for (Upstream u : next.all()) {
            for (Backend b : u.backends().all()) {
                if (previous.backend(b.id()) != b) {
                    added++;
                }
            }
        }
        return added;
    }

    /** The sections a reload does not apply, where they changed. */
    private static List<String> needRestart(ProxyConfig before, ProxyConfig next) {
        List<String> changed = new ArrayList<>();
        if (!before.server().equals(next.server())) {
            changed.add("server");
        }
        if (!java.util.Objects.equals(before.admin(), next.admin())) {
            changed.add("admin");
        }
        if (before.limits().maxConnections() != next.limits().maxConnections()
                || before.limits().maxConnectionsPerClient() != next.limits().maxConnectionsPerClient()
                || before.limits().maxBufferBytes() != next.limits().maxBufferBytes()) {
            changed.add("limits.maxConnections, maxConnectionsPerClient or maxBufferBytes");
        }
        if (!before.pool().equals(next.pool())) {
            changed.add("pool (it applies to backends added from now on)");
        }
        if (before.watchConfig() != next.watchConfig()) {
            changed.add("watchConfig");
        }
        if (before.redis() != null && !before.redis().equals(next.redis())) {
            changed.add("redis");
        }
        return changed;
    }

    /** Every second: a changed file (time or size) is reloaded. Runs on the accept loop. */
    private void checkConfigFile() {
        try {
            long stamp = stamp(configFile);
            if (stamp != watchedStamp) {
                watchedStamp = stamp;
                log.info("{} changed: reloading", configFile);
                reloadAsync();
            }
        } catch (RuntimeException e) {
            log.error("configuration file check failed", e);
        }
    }

    private static long stamp(Path file) {
        try {
            return Files.getLastModifiedTime(file).toMillis() * 31 + Files.size(file);
        } catch (IOException e) {
            return -1;
        }
    }

    /** The configuration in force. */
    public ProxyConfig config() {
        return config;
    }

    ProxyMetrics metrics() {
        return metrics;
    }

    /** Reopens the access log file (after it was moved away for rotation); nothing when it goes to stdout. */
    public void reopenLogs() {
        AccessLog log = accessLog;
        if (log != null) {
            log.reopen();
        }
    }

    /** The I/O transport in use: {@code epoll}, {@code io_uring} or {@code nio}. */
    public String transportName() {
        return transport.name();
    }

    /** The first listener's bound port; valid after {@link #start()}. */
    public int port() {
        return port(0);
    }

    /** The bound port of listener {@code index} (its place in {@code listen}); valid after {@link #start()}. */
    public int port(int index) {
        return listeners.address(index).getPort();
    }

    /** The upstream {@code default} (the top-level backends), or else the first upstream. */
    public BackendGroup backends() {
        Upstream u = upstreamGroups.get(UpstreamConfig.DEFAULT_NAME);
        return (u != null ? u : upstreamGroups.all().iterator().next()).backends();
    }

    public Upstreams upstreams() {
        return upstreamGroups;
    }

    /** The fleet this proxy is a member of; {@code null} without {@code redis}. */
    public Fleet fleet() {
        return fleet;
    }

    private String describeUpstreams() {
        StringBuilder out = new StringBuilder();
        for (Upstream u : upstreamGroups.all()) {
            out.append(out.length() > 0 ? "; " : "").append(u.name()).append(" (").append(u.config().balancer())
                    .append("): ").append(u.backends().all());
        }
        return out.toString();
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
        if (listeners != null) {
            listeners.closeAll();
        }
        if (adminChannel != null) {
            adminChannel.close().awaitUninterruptibly();
        }
        if (certificateWatch != null) {
            certificateWatch.cancel(false);
        }
        if (configWatch != null) {
            configWatch.cancel(false);
        }
        reloads.shutdown();
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
        upstreamGroups.close();
        if (fleet != null) {
            fleet.close(); // before the loops it may share stop
        }
        if (budgetSampler != null) {
            budgetSampler.cancel(false);
        }
        pools.close();
        for (AccessLog retired : retiredLogs) {
            if (retiredLogs.remove(retired)) {
                retired.close(); // replaced by a reload less than a grace period ago
            }
        }
        if (accessLog != null) {
            accessLog.close(); // what is queued is written
        }
        workerGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5000);
        bossGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5000);
        log.info("stopped");
    }

    @Override
    public void close() {
        shutdown();
    }
}
