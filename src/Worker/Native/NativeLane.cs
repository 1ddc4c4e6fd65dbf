using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Worker.Native;

/// <summary>A slot for one batch at a time on the in-process backend. Runs on the thread pool: ONNX Runtime's Run is synchronous.</summary>
internal sealed class NativeLane(int id, NativeOrtBackend backend) : IInferenceLane
{
    public int Id { get; } = id;

    public bool IsReady => true;

    public Task WaitUntilReadyAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task ReleaseMemoryAsync(CancellationToken cancellationToken) => Task.Run(backend.ReleaseIdleMemory, CancellationToken.None);

    public async Task<InferenceOutput> RunAsync(ModelDefinition model, InferenceBatch batch, CancellationToken cancellationToken)
    {
        var session = await backend.GetSessionAsync(model, cancellationToken);

        try
        {
            return await Task.Run(() => session.Run(batch), cancellationToken);
        }
        catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidOperationException)
        {
            throw new BatchFailedException(BatchFailureReason.RuntimeError, $"ONNX Runtime failed on a batch of model {model.Name}: {e.Message}", e);
        }
    }
}
