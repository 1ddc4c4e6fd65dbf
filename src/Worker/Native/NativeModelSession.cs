using System.Diagnostics;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Worker.Native;

/// <summary>One model loaded into an in-process ONNX Runtime session; runs padded batches and pools them.</summary>
internal sealed class NativeModelSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly ModelDefinition _model;
    private readonly string _output;
    private readonly bool _wantsTokenTypes;

    public NativeModelSession(ModelDefinition model, int intraOpThreads, IReadOnlyList<string> providers, bool allowSpinning)
    {
        _model = model;
        using var options = new SessionOptions
        {
            IntraOpNumThreads = intraOpThreads,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        };
        var spin = allowSpinning ? "1" : "0";
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", spin);
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", spin);
        (Provider, ProvidersTried) = ExecutionProviderSelector.Apply(options, providers);
        _session = new InferenceSession(model.OnnxPath, options);
        _output = model.Output ?? _session.OutputMetadata.Keys.First();
        if (!_session.OutputMetadata.ContainsKey(_output))
        {
            throw new InvalidOperationException($"Model {model.Name} has no output '{_output}' (outputs: {string.Join(", ", _session.OutputMetadata.Keys)}).");
        }

        var unknown = _session.InputMetadata.Keys.Except(["input_ids", "attention_mask", "token_type_ids"]).ToList();
        if (unknown.Count > 0)
        {
            throw new InvalidOperationException($"Model {model.Name} declares inputs this worker cannot feed: {string.Join(", ", unknown)}.");
        }

        _wantsTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
        Dimensions = (int)_session.OutputMetadata[_output].Dimensions[^1];
    }

    public string Provider { get; }

    public IReadOnlyList<ProviderAttemptResult> ProvidersTried { get; }

    public int Dimensions { get; }

    public InferenceOutput Run(InferenceBatch batch)
    {
        var started = Stopwatch.GetTimestamp();
        long[] shape = [batch.Rows, batch.SequenceLength];
        var mask = new long[batch.InputIds.Length];
        for (var row = 0; row < batch.Rows; row++)
        {
            mask.AsSpan(row * batch.SequenceLength, batch.Lengths[row]).Fill(1);
        }

        using var ids = OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape);
        using var attention = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var types = _wantsTokenTypes ? OrtValue.CreateTensorValueFromMemory(new long[batch.InputIds.Length], shape) : null;
        var names = new List<string> { "input_ids", "attention_mask" };
        var values = new List<OrtValue> { ids, attention };
        if (types is not null)
        {
            names.Add("token_type_ids");
            values.Add(types);
        }

        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, names, values, [_output]);
        var inferenceMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var hidden = outputs[0].GetTensorDataAsSpan<float>();
        var vectors = SentencePooling.Pool(hidden, batch.Rows, batch.SequenceLength, Dimensions, batch.Lengths, _model.Pooling, _model.Normalize);
        var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return new InferenceOutput(vectors, Dimensions, new InferenceTimings(inferenceMs, totalMs - inferenceMs, totalMs, 0), Provider);
    }

    public void Dispose() => _session.Dispose();
}
