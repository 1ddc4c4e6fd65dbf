using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Drops MassTransit's <c>R-FAULT</c> error entry (about 4 KB of stack trace) for a message whose body could not be
/// deserialized: <see cref="MalformedMessageObserver"/> logs one warning with the reason instead, and the exception
/// stays in the <c>_error</c> message's headers. Every other MassTransit entry, a consumer's fault included, is kept.
/// A log filter cannot do this (filters see only the category and level, and the same category and level carry real
/// faults), so the logger factory is wrapped: MassTransit takes its loggers from the container's factory.
/// </summary>
internal sealed class MalformedFaultLogFilter(ILoggerFactory inner) : ILoggerFactory
{
    public static void Register(IServiceCollection services)
    {
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(sp => new MalformedFaultLogFilter(new LoggerFactory(
            sp.GetServices<ILoggerProvider>(),
            sp.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
            sp.GetService<IOptions<LoggerFactoryOptions>>(),
            sp.GetService<IExternalScopeProvider>()))));
    }

    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        return categoryName.StartsWith("MassTransit", StringComparison.Ordinal) ? new Filtering(logger) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();

    private sealed class Filtering(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error && exception is not null && MalformedMessageObserver.IsMalformed(exception) &&
                formatter(state, exception).StartsWith("R-FAULT", StringComparison.Ordinal))
            {
                return;
            }

            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
