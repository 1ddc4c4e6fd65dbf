namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// Configuration section <c>Bridge:Sandbox</c>: what a bridge process may not do (docs/operations.md, "The bridge's
/// sandbox"). It runs model files and native code for a worker that holds broker and cache credentials, so by
/// default it gets no new privileges, no network (sockets of the AF_UNIX family only) and bounded resources. A part
/// the platform refuses is logged as off, once per process start; the rest still applies.
/// </summary>
public sealed class BridgeSandboxOptions
{
    /// <summary>Off: the bridge runs unrestricted (its environment is still scrubbed of credentials).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>A seccomp filter that lets <c>socket()</c> create only AF_UNIX sockets (Linux, x86_64 and arm64).</summary>
    public bool DenyNetwork { get; set; } = true;

    /// <summary>
    /// RLIMIT_AS of each bridge, set once its models are loaded; 0: none. A bridge with fp32 and int8 MiniLM, narrow
    /// and wide sessions, after 32 x 256-token batches, measured 2.1 GiB of address space on 2 cores (a resident
    /// 1.2 GiB); each further ONNX Runtime thread reserves up to 72 MiB more (its stack and malloc arena), so the
    /// default leaves room for a wide session on 64 cores. Not applied to a bridge whose model runs on CUDA.
    /// </summary>
    public int MaxAddressSpaceMiB { get; set; } = 16_384;

    /// <summary>RLIMIT_NOFILE of each bridge; 0: inherited. A ready bridge holds 9 descriptors.</summary>
    public int MaxOpenFiles { get; set; } = 256;

    internal SandboxHeader? ToHeader() =>
        Enabled ? new SandboxHeader(NoNewPrivs: true, DenyNetwork, MaxAddressSpaceMiB * 1024L * 1024L, MaxOpenFiles) : null;
}
