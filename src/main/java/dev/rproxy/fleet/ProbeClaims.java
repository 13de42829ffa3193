package dev.rproxy.fleet;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who of the fleet probes a backend this interval ({@code healthCheck.spread}): before a probe a
 * member claims {@code rproxy:fleet:probe:<backend id>:<url hash>} with {@code SET ... NX PX}, and
 * probes only if the claim was its own. The claim lasts nine tenths of the interval, so the member
 * that probed last finds it free at its next round and keeps the backend (one prober per backend
 * as long as it runs), while a member that tries in the last tenth, or after the prober stopped,
 * takes it over: about one probe per interval in all. The others learn the result from the
 * prober's health events ({@code down} repeated at each failed probe, {@code up}).
 * (The health checker still probes, claim or not, a backend its own probes have down.)
 *
 * <p>Without Redis (not connected, an error, no answer within {@code timeoutMs}) the claim is
 * granted: every member probes for itself, as without {@code spread}. Each change between the two
 * is logged once. Called off the request path only (the health checker's schedule); never blocks.
 */
public final class ProbeClaims {
    private static final Logger log = LoggerFactory.getLogger(ProbeClaims.class);

    /** Claim keys: this, the backend's id, {@code :}, the hash of its url. */
    public static final String PREFIX = "rproxy:fleet:probe:";

    private final RedisLink link;
    private final String id;
    private final AtomicLong skipped = new AtomicLong();
    private final AtomicBoolean fallback = new AtomicBoolean();

    ProbeClaims(RedisLink link, String id) {
        this.link = link;
        this.id = id;
    }

    /** The claim key of the backend {@code backend} at {@code url}. */
    public static String key(String backend, String url) {
        return PREFIX + backend + ":" + Integer.toHexString(url.hashCode());
    }

    /**
     * Whether this member probes {@code backend} at {@code url} this interval: true when it won the
     * claim or Redis cannot be asked, false when another member holds it (counted). Never fails.
     */
    public CompletableFuture<Boolean> claim(String backend, String url, long intervalMs) {
        long ms = Math.max(1, intervalMs - intervalMs / 10);
        return link.setIfAbsent(key(backend, url), id, ms).handle((won, e) -> {
            if (e != null) {
                if (fallback.compareAndSet(false, true)) {
                    log.warn("fleet: probe claims unavailable ({}); every member probes for itself",
                            RedisLink.unwrap(e).toString());
                }
                return true;
            }
            if (fallback.compareAndSet(true, false)) {
                log.info("fleet: probe claims through Redis again; one member probes each backend per interval");
            }
            if (!won) {
                skipped.incrementAndGet();
            }
            return won;
        });
    }

    /** Probes not sent because another member held the claim. */
    public long skipped() {
        return skipped.get();
    }
}
