package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyExtension;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** limits.maxConnectionsPerClient: one address cannot take more; others are still served. */
class PerClientLimitTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1).config("\"limits\":{\"maxConnectionsPerClient\":3}");

    @Test
    void connectionsBeyondTheLimitFromOneAddressAreClosedWhileOtherAddressesAreServed() throws Exception {
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                held.add(connectFrom("127.0.0.1"));
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.server().clientConnections() == 3);
            try (Socket fourth = connectFrom("127.0.0.1")) {
                fourth.setSoTimeout(5000);
                assertThat(fourth.getInputStream().read()).as("closed without an answer").isEqualTo(-1);
            }
            try (Socket other = connectFrom("127.0.0.2")) {
                assertThat(get(other)).startsWith("HTTP/1.1 200");
            }
            // A held one is still served, and once one closes, the address may connect again.
            assertThat(get(held.get(0))).startsWith("HTTP/1.1 200");
            held.remove(0).close();
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.server().clientConnections() == 2);
            try (Socket again = connectFrom("127.0.0.1")) {
                assertThat(get(again)).startsWith("HTTP/1.1 200");
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }

    private static Socket connectFrom(String localAddress) throws Exception {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(InetAddress.getByName(localAddress), 0));
        s.connect(new InetSocketAddress("127.0.0.1", proxy.port()), 5000);
        return s;
    }

    /** Sends one GET and returns the status line. */
    private static String get(Socket s) throws Exception {
        s.setSoTimeout(5000);
        s.getOutputStream().write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        StringBuilder line = new StringBuilder();
        for (int c = in.read(); c != -1 && c != '\n'; c = in.read()) {
            line.append((char) c);
        }
        return line.toString();
    }
}
