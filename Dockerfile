# One image for both processes: the compose file picks the command (web or worker).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements.txt .
COPY client ./client
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV DATABASE_URL=sqlite:////data/atm.db PORT=5000
VOLUME ["/data"]
EXPOSE 5000
CMD ["gunicorn", "web:create_app()"]
