import io.github.telemetryvault.telemetry.v1.QueryEventsResponse;
import java.io.File;
import java.nio.file.Files;
import java.util.Arrays;

/**
 * Decodes each case file (a serialized telemetry.v1.QueryEventsResponse) with
 * protobuf-java's generated parser and default limits, as grpc-java's
 * ProtoLiteUtils marshaller does, and prints one line per file:
 * "<file>\tok" or "<file>\tfail\t<error>".
 *
 * Usage: java -cp protobuf.jar:classes Decode CASES_DIR
 */
public final class Decode {
  public static void main(String[] args) throws Exception {
    // Debian's jar has no version in its manifest; its file name (behind the protobuf.jar link) has.
    File jar = new File(com.google.protobuf.Message.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getCanonicalFile();
    System.out.println("runtime\tprotobuf-java " + jar.getName() + " (Java " + System.getProperty("java.version") + ")");
    File[] files = new File(args[0]).listFiles();
    Arrays.sort(files);
    for (File file : files) {
      byte[] data = Files.readAllBytes(file.toPath());
      try {
        QueryEventsResponse.parseFrom(data);
        System.out.println(file.getName() + "\tok");
      } catch (Exception error) {
        System.out.println(file.getName() + "\tfail\t" + error.getClass().getSimpleName() + ": " + error.getMessage().replace('\n', ' '));
      }
    }
  }
}
