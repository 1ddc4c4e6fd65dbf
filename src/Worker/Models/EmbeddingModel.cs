using AkiDb.Queue.Worker.Tokenization;

namespace AkiDb.Queue.Worker.Models;

/// <summary>A catalogue model with its tokenizer loaded: everything the worker does before a lane takes over.</summary>
public sealed class EmbeddingModel(ModelDefinition definition, TextTokenizer tokenizer)
{
    public ModelDefinition Definition { get; } = definition;

    public string Name => Definition.Name;

    public TokenizedText Tokenize(string text, InputType inputType)
    {
        var prefix = inputType == InputType.Query ? Definition.QueryPrefix : Definition.DocumentPrefix;
        return tokenizer.Encode(string.IsNullOrEmpty(prefix) ? text : prefix + text);
    }
}

/// <summary>What a text is for; prefix-trained models embed queries and documents differently.</summary>
public enum InputType
{
    Document,
    Query,
}
