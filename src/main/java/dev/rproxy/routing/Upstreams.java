package dev.rproxy.routing;

import dev.rproxy.admin.ProxyMetrics;
import dev.rproxy.backend.Backend;
import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.ProxyConfig;
import dev.rproxy.config.RouteConfig;
import dev.rproxy.config.UpstreamConfig;
import dev.rproxy.edge.Authenticators;
import dev.rproxy.edge.RateLimits;
import dev.rproxy.edge.RoutePolicy;
import dev.rproxy.fleet.Fleet;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Every upstream of a configuration, by name, and the router over them.
 *
 * <p>The backends by id change while it runs when an upstream is discovered: a backend that joins
 * is named in the metrics and found by id before any request reaches it; one that leaves is handed
 * to {@link #onLeaving} (the server retires its pools: they take no new request and close as their
 * exchanges end, as for a backend a reload removed).
 */
public final class Upstreams implements AutoCloseable, Upstream.Membership {
    private final Map<String, Upstream> byName = new LinkedHashMap<>();
    private final Map<String, Backend> byId = new ConcurrentHashMap<>();
    private final Map<Backend, Upstream> ofBackend = new ConcurrentHashMap<>();
    private final ProxyMetrics metrics;
    private volatile Consumer<List<Backend>> leaving = left -> {};
    private final Router router;
    private final RateLimits rateLimits;
    private final Authenticators authenticators;
    private final boolean securityHeaders;
    /** Health shared with the fleet; {@code null} without one (or when only checking). */
    private final Fleet fleet;
    private final SharedHealth sharedHealth;

    /**
     * @param loops where probes and ejection timers run; {@code null} to only load and check
     *     (nothing is started, nothing probes)
     * @throws dev.rproxy.config.ConfigException when a backend's TLS files do not load, naming it
     */
    public Upstreams(ProxyConfig config, EventLoopGroup loops, Class<? extends Channel> channelClass) {
        this(config, loops, channelClass, new ProxyMetrics(), null);
    }

    /**
     * As above, each upstream and backend named in {@code metrics}' counters.
     *
     * @param previous the upstreams before a reload, {@code null} at start: a backend with the same
     *     id and the same settings ({@link BackendConfig} and pool limits) is carried over, the same
     *     object, with its health, ejections, slow start, counters and pooled connections; so are the
     *     backends a discovered upstream had found, when its {@code discovery} is the same (hold
     *     {@code previous}' discovery first: {@link #holdDiscovery})
     */
    public Upstreams(ProxyConfig config, EventLoopGroup loops, Class<? extends Channel> channelClass,
                     ProxyMetrics metrics, Upstreams previous) {
        this(config, loops, channelClass, metrics, previous, null);
    }

    /** As above, the {@code global} rate limits shared through {@code fleet} ({@code null}: none). */
    public Upstreams(ProxyConfig config, EventLoopGroup loops, Class<? extends Channel> channelClass,
                     ProxyMetrics metrics, Upstreams previous, Fleet fleet) {
        this.metrics = metrics;
        this.fleet = fleet;
        this.sharedHealth = fleet == null || loops == null ? null : new SharedHealth(fleet.health(), this, loops);
        Function<BackendConfig, Backend> kept = previous == null ? null : c -> {
            Backend b = previous.backend(c.id());
            return b != null && b.config().equals(c) ? b : null;
        };
        boolean topLevel = !config.backends().isEmpty();
        for (Map.Entry<String, UpstreamConfig> u : config.allUpstreams().entrySet()) {
            String name = u.getKey();
            String at = topLevel && name.equals(UpstreamConfig.DEFAULT_NAME) ? "backends" : "upstreams." + name + ".backends";
            Upstream before = previous == null ? null : previous.get(name);
            List<BackendConfig> discovered = before != null && u.getValue().discovery() != null
                    && u.getValue().discovery().equals(before.config().discovery())
                    ? before.backends().all().stream().map(Backend::config).toList() : List.of();
            Upstream upstream = new Upstream(name, u.getValue(), at, config.timeouts().connectMs(), config.pool(), loops,
                    channelClass, kept, discovered, this, fleet);
            byName.put(name, upstream);
            if (fleet != null && upstream.healthChecker() != null && u.getValue().healthCheck().spread()) {
                upstream.healthChecker().gate((b, intervalMs) -> fleet.probeClaims().claim(b.id(), b.url(), intervalMs));
            }
            upstream.metrics(metrics.upstream(name), metrics.slot(name, "-"));
            for (Backend b : upstream.backends().all()) {
                b.metricsSlot(metrics.slot(name, b.id()));
                if (sharedHealth != null) {
                    b.reporter(sharedHealth);
                }
                byId.put(b.id(), b);
                ofBackend.put(b, upstream);
            }
        }
        this.rateLimits = new RateLimits(config.rateLimits(), previous == null ? null : previous.rateLimits, fleet);
        this.securityHeaders = config.securityHeaders();
        this.authenticators = new Authenticators(previous == null ? null : previous.authenticators);
        List<Route> routes = new ArrayList<>();
        List<RouteConfig> routeList = config.routeList();
        for (int i = 0; i < routeList.size(); i++) {
            RouteConfig r = routeList.get(i);
            routes.add(new Route(r, byName.get(r.upstream()), RoutePolicy.of(r, i, config.securityHeaders(), rateLimits,
                    authenticators)));
        }
        this.router = new Router(routes, config.security().rejectDotSegments());
    }

    public Router router() {
        return router;
    }

    /** The top-level {@code securityHeaders}: the preset on the proxy's answers outside any route's policy. */
    public boolean securityHeaders() {
        return securityHeaders;
    }

    public RateLimits rateLimits() {
        return rateLimits;
    }

    public Collection<Upstream> all() {
        return byName.values();
    }

    public Upstream get(String name) {
        return byName.get(name);
    }

    /** The backend with this id, in whichever upstream; {@code null} when there is none. */
    public Backend backend(String id) {
        return byId.get(id);
    }

    /** The upstream {@code backend} belongs to. */
    public Upstream upstreamOf(Backend backend) {
        return ofBackend.get(backend);
    }

    /** Where the backends that leave a discovered upstream go (to have their pools retired); set before {@link #start}. */
    public void onLeaving(Consumer<List<Backend>> leaving) {
        this.leaving = leaving;
    }

    @Override
    public void joining(Upstream upstream, Backend backend) {
        backend.metricsSlot(metrics.slot(upstream.name(), backend.id()));
        if (sharedHealth != null) {
            backend.reporter(sharedHealth);
        }
        byId.put(backend.id(), backend);
        ofBackend.put(backend, upstream);
    }

    @Override
    public void left(Upstream upstream, List<Backend> left) {
        for (Backend b : left) {
            byId.remove(b.id(), b); // a backend of the same id may have joined in its place
            ofBackend.remove(b);
        }
        leaving.accept(left);
    }

    /** Holds back (or lets through again) the answers of every discovered upstream: see {@link Upstream#holdDiscovery}. */
    public void holdDiscovery(boolean hold) {
        for (Upstream u : byName.values()) {
            u.holdDiscovery(hold);
        }
    }

    /** Starts the upstreams; with a fleet, the other members' health events are honoured by these from now on. */
    public void start() {
        if (sharedHealth != null) {
            fleet.health().listen(sharedHealth);
        }
        for (Upstream u : byName.values()) {
            u.start();
        }
    }

    /** Waits, from a thread that is not an event loop, for every discovered upstream's first answer (or failure). */
    public boolean awaitDiscovery(long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        boolean all = true;
        for (Upstream u : byName.values()) {
            all &= u.awaitDiscovery(Math.max(0, (deadline - System.nanoTime()) / 1_000_000L));
        }
        return all;
    }

    /**
     * Waits, from a thread that is not an event loop, for every discovered upstream's first answer
     * and then for every probing upstream's first round.
     */
    public boolean awaitFirstRound(long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        boolean all = awaitDiscovery(timeoutMs);
        for (Upstream u : byName.values()) {
            if (u.healthChecker() != null) {
                long left = Math.max(0, deadline - System.nanoTime());
                all &= u.healthChecker().awaitFirstRound(left, java.util.concurrent.TimeUnit.NANOSECONDS);
            }
        }
        return all;
    }

    @Override
    public void close() {
        rateLimits.close();
        authenticators.close();
        for (Upstream u : byName.values()) {
            u.close();
        }
    }
}
