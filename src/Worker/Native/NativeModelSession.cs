using System.Diagnostics;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Worker.Native;

/// <summary>
/// One model loaded into in-process ONNX Runtime: a narrow session (the lanes' share of the cores; concurrent runs,
/// each on its caller's thread) and, on CPU with more cores than that, a wide session for a lone batch. Runs padded
/// batches and pools them.
/// </summary>
internal sealed class NativeModelSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly InferenceSession? _wide;
    private readonly SemaphoreSlim _wideGate = new(1, 1); // one run at a time on the wide session, the memory release's included
    private readonly PrePackedWeightsContainer _prepacked = new();
    private readonly RunOptions _shrink = new();
    private readonly SharedWeights? _weights;
    private readonly ModelDefinition _model;
    private readonly string _output;
    private readonly bool _wantsTokenTypes;
    private readonly int _threads;
    private int _ranSinceRelease;

    public NativeModelSession(ModelDefinition model, int intraOpThreads, IReadOnlyList<ExecutionProvider> providers, bool allowSpinning, int wideThreads = 0, bool wideAllowSpinning = false)
    {
        _model = model;
        _threads = intraOpThreads;
        _shrink.AddRunConfigEntry("memory.enable_memory_arena_shrinkage", "cpu:0");
        using var options = CreateOptions(intraOpThreads, allowSpinning);
        (Provider, ProvidersTried) = ExecutionProviderSelector.Apply(options, providers);
        var wantsWide = wideThreads > 0 && Provider == "CPU";
        if (wantsWide)
        {
            try
            {
                _weights = SharedWeights.Open(model.OnnxPath);
                _weights.AddTo(options);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                // Sharing saves memory; without it the wide session loads its own copy.
                WeightsNotShared = e.Message;
            }
        }

        _session = new InferenceSession(model.OnnxPath, options, _prepacked);
        if (wantsWide)
        {
            // The initializers and the prepacked-weights container (repacked MatMul weights) are shared between the two.
            using var wideOptions = CreateOptions(wideThreads, wideAllowSpinning);
            _weights?.AddTo(wideOptions);
            _wide = new InferenceSession(model.OnnxPath, wideOptions, _prepacked);
            WideThreads = wideThreads;
        }

        _weights?.DropResidentPages();

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
        // A declared width where the file has one; a graph whose shapes ONNX Runtime cannot infer statically (a symbolic
        // width through a run-time Reshape, as in an int8 file of an unfusable model) tells it on a probe run, as the bridge does.
        var declared = _session.OutputMetadata[_output].Dimensions[^1];
        Dimensions = declared > 0 ? declared : ProbeDimensions();
    }

    public string Provider { get; }

    /// <summary>Why the wide session has its own copy of the weights; null when they are shared (or there is no wide session).</summary>
    public string? WeightsNotShared { get; }

    /// <summary>Threads of the wide session; 0 where there is none.</summary>
    public int WideThreads { get; }

    public IReadOnlyList<ProviderAttemptResult> ProvidersTried { get; }

    public int Dimensions { get; }

    public InferenceOutput Run(InferenceBatch batch)
    {
        Interlocked.Exchange(ref _ranSinceRelease, 1);
        if (batch.Parallelism != Parallelism.Wide || _wide is null)
        {
            return Run(_session, _threads, batch, null);
        }

        _wideGate.Wait();
        try
        {
            return Run(_wide, WideThreads, batch, null);
        }
        finally
        {
            _wideGate.Release();
        }
    }

    /// <summary>
    /// Gives back what the last burst left allocated: a probe run with the shrink option frees each session's unused
    /// arena regions (ONNX Runtime shrinks only at the end of a run), then the heap is trimmed. Skips a wide session
    /// that is running; false when nothing ran since the last release.
    /// </summary>
    public bool ReleaseMemory()
    {
        if (Interlocked.Exchange(ref _ranSinceRelease, 0) == 0)
        {
            return false;
        }

        var probe = new InferenceBatch { Model = _model.Name, Rows = 1, SequenceLength = 2, InputIds = [0, 0], Lengths = [2] };
        Run(_session, _threads, probe, _shrink);
        if (_wide is not null && _wideGate.Wait(0))
        {
            try
            {
                Run(_wide, WideThreads, probe, _shrink);
            }
            finally
            {
                _wideGate.Release();
            }
        }

        _weights?.DropResidentPages();
        HeapTrim.Trim();
        return true;
    }

    private int ProbeDimensions()
    {
        long[] shape = [1, 2];
        using var ids = OrtValue.CreateTensorValueFromMemory(new long[2], shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(new long[] { 1, 1 }, shape);
        using var types = _wantsTokenTypes ? OrtValue.CreateTensorValueFromMemory(new long[2], shape) : null;
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, _wantsTokenTypes ? ["input_ids", "attention_mask", "token_type_ids"] : ["input_ids", "attention_mask"],
            types is null ? [ids, mask] : [ids, mask, types], [_output]);
        return checked((int)outputs[0].GetTensorTypeAndShape().Shape[^1]);
    }

    private static SessionOptions CreateOptions(int intraOpThreads, bool allowSpinning)
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = intraOpThreads,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        };
        var spin = allowSpinning ? "1" : "0";
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", spin);
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", spin);
        return options;
    }

    private InferenceOutput Run(InferenceSession session, int threads, InferenceBatch batch, RunOptions? shrink)
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

        using var runOptions = shrink is null ? new RunOptions() : null;
        using var outputs = session.Run(shrink ?? runOptions!, names, values, [_output]);
        var inferenceMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var hidden = outputs[0].GetTensorDataAsSpan<float>();
        var vectors = SentencePooling.Pool(hidden, batch.Rows, batch.SequenceLength, Dimensions, batch.Lengths, _model.Pooling, _model.Normalize);
        var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return new InferenceOutput(vectors, Dimensions, new InferenceTimings(inferenceMs, totalMs - inferenceMs, totalMs, 0), Provider) { Threads = threads };
    }

    public void Dispose()
    {
        _wide?.Dispose();
        _session.Dispose();
        _weights?.Dispose(); // after the sessions that borrow its tensors
        _prepacked.Dispose();
        _shrink.Dispose();
        _wideGate.Dispose();
    }
}
