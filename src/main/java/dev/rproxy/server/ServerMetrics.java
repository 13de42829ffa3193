package dev.rproxy.server;

import dev.rproxy.backend.Backend;
import dev.rproxy.edge.RateLimiter;
import dev.rproxy.fleet.Fleet;
import dev.rproxy.memory.BufferBudget;
import dev.rproxy.pool.UpstreamPools;
import dev.rproxy.proxy.Tunnel;
import dev.rproxy.routing.Upstream;
import dev.rproxy.routing.Upstreams;
import io.netty.channel.Channel;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.internal.PlatformDependent;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The state the proxy is in, read when scraped: each backend's health, ejection, draining and
 * requests in flight; each upstream's panic and requests in flight; connections to backends (open,
 * leased, requests waiting for one); client connections by protocol; the buffer budget and
 * Netty's direct memory; with a fleet, whether Redis answers, the members seen and the changes of
 * mode. Pool and connection figures are read without a lock from the threads that
 * own them: each is a moment's approximation.
 */
final class ServerMetrics implements MultiCollector {
    private final Supplier<Upstreams> upstreamsInForce;
    private final UpstreamPools pools;
    private final ChannelGroup clients;
    private final BufferBudget budget;
    private final LongSupplier reloadsApplied;
    private final LongSupplier reloadsRefused;
    private final LongSupplier accessLogDropped;
    private final Supplier<Fleet> fleetInForce;

    ServerMetrics(Supplier<Upstreams> upstreams, UpstreamPools pools, ChannelGroup clients, BufferBudget budget,
                  LongSupplier reloadsApplied, LongSupplier reloadsRefused, LongSupplier accessLogDropped,
                  Supplier<Fleet> fleet) {
        this.fleetInForce = fleet;
        this.upstreamsInForce = upstreams;
        this.pools = pools;
        this.clients = clients;
        this.budget = budget;
        this.reloadsApplied = reloadsApplied;
        this.reloadsRefused = reloadsRefused;
        this.accessLogDropped = accessLogDropped;
    }

    @Override
    public MetricSnapshots collect() {
        Upstreams upstreams = upstreamsInForce.get();
        GaugeSnapshot.Builder available = gauge("rproxy_backend_available",
                "1 while requests may go to the backend (healthy, not ejected, not draining)");
        GaugeSnapshot.Builder healthy = gauge("rproxy_backend_healthy", "1 while the backend's active probes pass");
        GaugeSnapshot.Builder ejected = gauge("rproxy_backend_ejected", "1 while passive health has the backend ejected");
        GaugeSnapshot.Builder draining = gauge("rproxy_backend_draining", "1 while the backend is drained through the admin API");
        GaugeSnapshot.Builder inFlight = gauge("rproxy_backend_requests_in_flight", "Exchanges in flight on the backend");
        CounterSnapshot.Builder failures = CounterSnapshot.builder().name("rproxy_backend_passive_failures")
                .help("Failed requests seen on the backend's traffic (connect failures, resets, 5xx)");
        CounterSnapshot.Builder ejections = CounterSnapshot.builder().name("rproxy_backend_ejections")
                .help("Ejections of the backend by passive health since start");
        GaugeSnapshot.Builder panic = gauge("rproxy_upstream_panic", "1 while the upstream balances over all its backends");
        GaugeSnapshot.Builder upstreamInFlight = gauge("rproxy_upstream_requests_in_flight", "Requests in flight on the upstream");
        Map<Backend, int[]> connections = new HashMap<>();
        pools.forEach((backend, pool) -> {
            int[] sums = connections.computeIfAbsent(backend, b -> new int[3]);
            sums[0] += pool.openConnections();
            sums[1] += pool.leases();
            sums[2] += pool.pendingAcquires();
        });
        GaugeSnapshot.Builder open = gauge("rproxy_backend_connections", "Connections open (or opening) to the backend");
        GaugeSnapshot.Builder leased = gauge("rproxy_backend_leases",
                "Leases in use: HTTP/1 connections carrying an exchange, HTTP/2 streams");
        GaugeSnapshot.Builder pending = gauge("rproxy_backend_pending_acquires", "Requests waiting for a connection or stream");
        for (Upstream u : upstreams.all()) {
            Labels group = Labels.of("upstream", u.name());
            panic.dataPoint(point(group, u.backends().inPanic() ? 1 : 0));
            upstreamInFlight.dataPoint(point(group, u.requestsInFlight()));
            for (Backend b : u.backends().all()) {
                Labels labels = Labels.of("upstream", u.name(), "backend", b.id());
                available.dataPoint(point(labels, b.isAvailable() ? 1 : 0));
                healthy.dataPoint(point(labels, b.isHealthy() ? 1 : 0));
                ejected.dataPoint(point(labels, b.isEjected() ? 1 : 0));
                draining.dataPoint(point(labels, b.isDraining() ? 1 : 0));
                inFlight.dataPoint(point(labels, b.activeConnections()));
                failures.dataPoint(CounterDataPointSnapshot.builder().value(b.passiveFailures()).labels(labels).build());
                ejections.dataPoint(CounterDataPointSnapshot.builder().value(b.ejectionsSinceStart()).labels(labels).build());
                int[] sums = connections.getOrDefault(b, new int[3]);
                open.dataPoint(point(labels, sums[0]));
                leased.dataPoint(point(labels, sums[1]));
                pending.dataPoint(point(labels, sums[2]));
            }
        }
        Map<String, Integer> byProtocol = new HashMap<>();
        for (Channel ch : clients) {
            String protocol = Tunnel.isTunnel(ch) ? "upgraded" : ch.pipeline().get("h2") != null ? "h2" : "http/1.1";
            String key = protocol + (ch.pipeline().get(SslHandler.class) != null ? " tls" : "");
            byProtocol.merge(key, 1, Integer::sum);
        }
        GaugeSnapshot.Builder clientConnections = gauge("rproxy_client_connections", "Open client connections by protocol");
        for (String protocol : new String[] {"http/1.1", "h2", "upgraded"}) {
            for (boolean tls : new boolean[] {false, true}) {
                String key = protocol + (tls ? " tls" : "");
                clientConnections.dataPoint(point(Labels.of("protocol", protocol, "tls", Boolean.toString(tls)),
                        byProtocol.getOrDefault(key, 0)));
            }
        }
        GaugeSnapshot.Builder limitKeys = gauge("rproxy_rate_limit_keys", "Keys a rate limit tracks");
        CounterSnapshot.Builder limitRefused = CounterSnapshot.builder().name("rproxy_rate_limit_refused")
                .help("Requests a rate limit refused (429)");
        CounterSnapshot.Builder limitShared = CounterSnapshot.builder().name("rproxy_rate_limit_shared_bucket")
                .help("Requests of new keys counted in the shared bucket because maxKeys were tracked");
        CounterSnapshot.Builder limitFailOpen = CounterSnapshot.builder().name("rproxy_rate_limit_fail_open")
                .help("Requests a global limit admitted undecided while Redis was unreachable (failMode open)");
        for (RateLimiter limiter : upstreams.rateLimits().all()) {
            Labels labels = Labels.of("limit", limiter.name());
            limitKeys.dataPoint(point(labels, limiter.size()));
            limitRefused.dataPoint(CounterDataPointSnapshot.builder().value(limiter.refused()).labels(labels).build());
            limitShared.dataPoint(CounterDataPointSnapshot.builder().value(limiter.overflowed()).labels(labels).build());
            if (limiter.global()) {
                limitFailOpen.dataPoint(CounterDataPointSnapshot.builder().value(limiter.failOpen()).labels(labels).build());
            }
        }
        List<MetricSnapshot> all = new ArrayList<>(List.of(available.build(), healthy.build(), ejected.build(), draining.build(), inFlight.build(),
                failures.build(), ejections.build(), panic.build(), upstreamInFlight.build(), open.build(), leased.build(),
                pending.build(), clientConnections.build(), limitKeys.build(), limitRefused.build(), limitShared.build(),
                gauge("rproxy_buffer_bytes", "Bytes in buffers, counted by the buffer budget")
                        .dataPoint(point(Labels.EMPTY, budget.used())).build(),
                gauge("rproxy_netty_direct_memory_bytes", "Direct memory Netty has allocated")
                        .dataPoint(point(Labels.EMPTY, PlatformDependent.usedDirectMemory())).build(),
                CounterSnapshot.builder().name("rproxy_config_reloads").help("Configuration reloads, by outcome")
                        .dataPoint(CounterDataPointSnapshot.builder().value(reloadsApplied.getAsLong())
                                .labels(Labels.of("result", "applied")).build())
                        .dataPoint(CounterDataPointSnapshot.builder().value(reloadsRefused.getAsLong())
                                .labels(Labels.of("result", "refused")).build()).build(), limitFailOpen.build(),
                CounterSnapshot.builder().name("rproxy_access_log_dropped")
                        .help("Access log lines dropped because the writer could not keep up")
                        .dataPoint(CounterDataPointSnapshot.builder().value(accessLogDropped.getAsLong()).build()).build()));
        Fleet fleet = fleetInForce.get();
        if (fleet != null) {
            fleet(fleet, all);
        }
        return new MetricSnapshots(all);
    }

    /** Whether Redis answers, the members seen, the mode and its changes. */
    private static void fleet(Fleet fleet, List<MetricSnapshot> out) {
        out.add(gauge("rproxy_fleet_redis_connected", "1 while Redis answers the fleet's calls")
                .dataPoint(point(Labels.EMPTY, fleet.connected() ? 1 : 0)).build());
        out.add(gauge("rproxy_fleet_members", "Proxies in the fleet, as Redis counted them last (this one included)")
                .dataPoint(point(Labels.EMPTY, fleet.members())).build());
        GaugeSnapshot.Builder mode = gauge("rproxy_fleet_mode",
                "1 for the mode global limits are in: global (shared through Redis) or the fail mode");
        CounterSnapshot.Builder transitions = CounterSnapshot.builder().name("rproxy_fleet_mode_transitions")
                .help("Changes of the global limits' mode, by the mode entered");
        for (Fleet.Mode m : Fleet.Mode.values()) {
            Labels labels = Labels.of("mode", m.label());
            mode.dataPoint(point(labels, fleet.mode() == m ? 1 : 0));
            transitions.dataPoint(CounterDataPointSnapshot.builder().value(fleet.transitions(m)).labels(labels).build());
        }
        out.add(mode.build());
        out.add(transitions.build());
        out.add(CounterSnapshot.builder().name("rproxy_fleet_health_events")
                .help("Backend health events shared with the fleet: published by this proxy, received from the others")
                .dataPoint(CounterDataPointSnapshot.builder().value(fleet.health().published())
                        .labels(Labels.of("direction", "published")).build())
                .dataPoint(CounterDataPointSnapshot.builder().value(fleet.health().received())
                        .labels(Labels.of("direction", "received")).build())
                .build());
        out.add(CounterSnapshot.builder().name("rproxy_fleet_probes_skipped")
                .help("Active health probes not sent because another fleet member claimed the backend's interval")
                .dataPoint(CounterDataPointSnapshot.builder().value(fleet.probeClaims().skipped()).build())
                .build());
    }

    private static GaugeSnapshot.Builder gauge(String name, String help) {
        return GaugeSnapshot.builder().name(name).help(help);
    }

    private static GaugeDataPointSnapshot point(Labels labels, double value) {
        return GaugeDataPointSnapshot.builder().value(value).labels(labels).build();
    }
}
