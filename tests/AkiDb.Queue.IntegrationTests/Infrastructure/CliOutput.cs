using System.Text;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>A running CLI's output lines, safe to read while its two pipes still write.</summary>
public sealed class CliOutput
{
    private readonly StringBuilder _text = new();
    private readonly Lock _lock = new();

    public void Append(string line)
    {
        lock (_lock)
        {
            _text.AppendLine(line);
        }
    }

    public bool Contains(string text)
    {
        lock (_lock)
        {
            return _text.ToString().Contains(text, StringComparison.Ordinal);
        }
    }

    public override string ToString()
    {
        lock (_lock)
        {
            return _text.ToString();
        }
    }
}
