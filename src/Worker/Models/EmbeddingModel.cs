using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Models;

/// <summary>A catalogue model with its tokenizer loaded: everything the worker does before a lane takes over.</summary>
public sealed class EmbeddingModel(ModelDefinition definition, TextTokenizer tokenizer, Action? prepareFiles = null)
{
    // One quantisation at a time, and none once the file exists; a failure is not remembered, the next batch retries.
    private readonly Lock _gate = new();
    private Task? _preparing;
    private volatile bool _prepared = prepareFiles is null;

    public ModelDefinition Definition { get; } = definition;

    public string Name => Definition.Name;

    public TokenizedText Tokenize(string text, InputType inputType)
    {
        var prefix = inputType == InputType.Query ? Definition.QueryPrefix : Definition.DocumentPrefix;
        return tokenizer.Encode(string.IsNullOrEmpty(prefix) ? text : prefix + text);
    }

    /// <summary>
    /// Makes sure <see cref="ModelDefinition.OnnxPath"/> exists before a lane loads it: an int8 model that does not
    /// load at start-up is quantised the first time a batch needs it.
    /// </summary>
    public async Task EnsureFilesAsync()
    {
        if (_prepared)
        {
            return;
        }

        Task task;
        lock (_gate)
        {
            task = _preparing ??= Task.Run(prepareFiles!);
        }

        try
        {
            await task;
            _prepared = true;
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                if (_preparing == task)
                {
                    _preparing = null;
                }
            }

            throw new BatchFailedException(BatchFailureReason.RuntimeError, $"Preparing {Name}'s model file failed: {e.Message}", e);
        }
    }
}

/// <summary>What a text is for; prefix-trained models embed queries and documents differently.</summary>
public enum InputType
{
    Document,
    Query,
}
