package taxipipeline.flink;

import java.util.Collections;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesDetector;

/**
 * Stages no jars with a job, for clusters that hold Beam's Flink runner on their own
 * classpath (the cluster `make flink` starts does).
 *
 * <p>The job server otherwise ships its whole classpath, 162 jars and 152 MB, with every
 * job (about 12 s a job on loopback). Selected per pipeline with Beam's option
 * {@code --pipelineResourcesDetectorFactoryClass=taxipipeline.flink.ClusterClasspath}
 * ({@code PipelineResourcesOptions}), which finds this class through its static
 * {@code create()}.
 */
public final class ClusterClasspath implements PipelineResourcesDetector.Factory {

  public static ClusterClasspath create() {
    return new ClusterClasspath();
  }

  @Override
  public PipelineResourcesDetector getPipelineResourcesDetector() {
    return classLoader -> Collections.emptyList();
  }
}
