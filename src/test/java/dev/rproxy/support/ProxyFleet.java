package dev.rproxy.support;

import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * Several proxies in this JVM, as a fleet sharing one Redis is tested: each started from its own
 * configuration, the set ready when every proxy says so; closing closes them all (and a start that
 * fails closes those already started).
 */
public final class ProxyFleet implements AutoCloseable {
    private final List<ConfiguredProxy> proxies = new ArrayList<>();

    /**
     * @param members the JSON members of proxy {@code i}'s configuration; each also gets the access
     *     log off, one I/O thread and an admin listener on a free port
     * @param ready   true once a proxy has joined (members seen, subscribed...); awaited for 10 s
     */
    public ProxyFleet(Path dir, int size, IntFunction<String> members, Predicate<ConfiguredProxy> ready) throws Exception {
        try {
            for (int i = 0; i < size; i++) {
                proxies.add(new ConfiguredProxy(dir, "\"accessLog\": {\"enabled\": false}, \"server\": {\"ioThreads\": 1},"
                        + " \"admin\": {\"port\": 0}, " + members.apply(i)));
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> proxies.stream().allMatch(ready));
        } catch (Exception | Error e) {
            close();
            throw e;
        }
    }

    public List<ConfiguredProxy> proxies() {
        return Collections.unmodifiableList(proxies);
    }

    @Override
    public void close() {
        for (ConfiguredProxy proxy : proxies) {
            proxy.close();
        }
    }
}
