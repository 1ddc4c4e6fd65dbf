using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>Keeps the worker's log lines so tests can assert on what an operator would read. Echoes to the console when AKIDB_TEST_VERBOSE=1.</summary>
public sealed class InMemoryLoggerProvider : ILoggerProvider
{
    private static readonly bool Echo = Environment.GetEnvironmentVariable("AKIDB_TEST_VERBOSE") == "1";

    /// <summary>Each entry with the trace id that was current when it was logged, as an OpenTelemetry log exporter would record it.</summary>
    public ConcurrentQueue<(LogLevel Level, string Category, string Message, string? TraceId)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(InMemoryLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception) + (exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message);
            owner.Entries.Enqueue((logLevel, category, message, System.Diagnostics.Activity.Current?.TraceId.ToString()));
            if (Echo)
            {
                Console.WriteLine($"{DateTime.Now:HH:mm:ss.fff} {logLevel,-11} {category.Split('.')[^1]}: {message}");
            }
        }
    }
}
