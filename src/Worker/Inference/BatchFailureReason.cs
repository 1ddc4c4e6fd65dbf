namespace AkiDb.Queue.Worker.Inference;

/// <summary>Why running a batch failed (<see cref="BatchFailedException.Reason"/>); the <c>reason</c> tag of <c>akidb.batch.failures</c>.</summary>
public enum BatchFailureReason
{
    /// <summary>The bridge process ended during the batch.</summary>
    Crash,

    /// <summary>The bridge missed the batch's deadline and was killed.</summary>
    Timeout,

    /// <summary>The bridge broke the frame protocol.</summary>
    Protocol,

    /// <summary>ONNX Runtime (or preparing the model file) reported an error.</summary>
    RuntimeError,
}

public static class BatchFailureReasons
{
    /// <summary>The metric tag: <c>crash</c>, <c>timeout</c>, <c>protocol</c>, <c>runtime_error</c>.</summary>
    public static string Tag(this BatchFailureReason reason) => reason switch
    {
        BatchFailureReason.Crash => "crash",
        BatchFailureReason.Timeout => "timeout",
        BatchFailureReason.Protocol => "protocol",
        _ => "runtime_error",
    };
}
