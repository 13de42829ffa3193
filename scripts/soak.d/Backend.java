import dev.rproxy.testbackend.TestBackend;
import java.util.concurrent.CountDownLatch;

/**
 * Runs the project's test backend ({@code test-backend/.../TestBackend.java}) bound to 127.0.0.1
 * only, which its own {@code main} does not offer (it listens on all interfaces). Compiled together
 * with TestBackend.java by scripts/soak.
 *
 * <p>Usage: {@code java -cp CLASSES Backend PORT ID}. Serves until killed.
 */
public final class Backend {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java Backend PORT ID");
            System.exit(2);
        }
        TestBackend backend = TestBackend.start(args[1], "127.0.0.1", Integer.parseInt(args[0]));
        Runtime.getRuntime().addShutdownHook(new Thread(backend::close, "backend-shutdown"));
        System.out.println("backend " + args[1] + " listening on 127.0.0.1:" + backend.port());
        new CountDownLatch(1).await();
    }
}
