# bash completion for piapi, generated from its command tree: do not edit.
# Install: copy to ~/.local/share/bash-completion/completions/piapi (or source it)

_piapi_models='Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d'

_piapi_task_types() {
    case "$1" in
        'Qubico/flux1-schnell') echo 'txt2img img2img' ;;
        'Qubico/flux1-dev') echo 'txt2img img2img' ;;
        'Qubico/flux1-dev-advanced') echo 'txt2img img2img txt2img-lora img2img-lora controlnet-lora fill-inpaint fill-outpaint redux-variation kontext' ;;
        'midjourney') echo 'imagine upscale variation describe reroll seed blend inpaint outpaint pan' ;;
        'Qubico/image-toolkit') echo 'background-remove upscale segment face-swap multi-face-swap' ;;
        'gemini') echo 'gemini-2.5-flash-image nano-banana-pro nano-banana-2' ;;
        'Qubico/qwen-image') echo 'txt2img image-edit' ;;
        'Qubico/z-image') echo 'txt2img' ;;
        'seedream') echo 'seedream-5-lite seedream-5-pro seedream-5-lite-less-restriction seedream-5-pro-less-restriction' ;;
        'Qubico/joycaption') echo 'joycaption-beta-one' ;;
        'kling') echo 'video_generation extend_video lip_sync effects omni_video_generation ai_try_on sound avatar motion_control' ;;
        'kling-turbo') echo 'video_generation' ;;
        'hailuo') echo 'video_generation' ;;
        'luma') echo 'video_generation extend_video' ;;
        'veo3') echo 'veo3-video veo3-video-fast' ;;
        'veo3.1') echo 'veo3.1-video veo3.1-video-fast' ;;
        'sora2') echo 'sora2-video sora2-pro-video remove-watermark' ;;
        'seedance') echo 'seedance-2 seedance-2-preview seedance-2-fast seedance-2-mini seedance-2-less-restriction seedance-2-fast-less-restriction seedance-2-mini-less-restriction seedance-2.5 seedance-2.5-less-restriction remove-watermark' ;;
        'Qubico/hunyuan') echo 'txt2video fast-txt2video img2video-concat img2video-replace txt2video-lora img2video-lora' ;;
        'Qubico/wanx') echo 'txt2video-1.3b txt2video-14b img2video-14b txt2video-14b-lora img2video-14b-lora img2video-14b-keyframe img2video-14b-control-camera wan22-txt2video-14b wan22-img2video-14b' ;;
        'Qubico/skyreels') echo 'img2video' ;;
        'Qubico/video-toolkit') echo 'face-swap upscale background-remove' ;;
        'Wan') echo 'wan26-txt2video wan26-img2video' ;;
        'Qubico/framepack') echo 'img2video' ;;
        'omni-human') echo 'omni-human-1.5' ;;
        'Qubico/hug-video') echo 'image_to_video' ;;
        'music-u') echo 'generate_music generate_lyrics' ;;
        'Qubico/ace-step') echo 'txt2audio audio2audio edit extend' ;;
        'Qubico/diffrhythm') echo 'txt2audio-base txt2audio-full' ;;
        'Qubico/mmaudio') echo 'video2audio' ;;
        'Qubico/tts') echo 'zero-shot' ;;
        'suno') echo 'generate_music' ;;
        'music-s') echo 'generate_music' ;;
        'byteaudio') echo 'seed-audio-1.0' ;;
        'Qubico/trellis') echo 'image-to-3d text-to-3d' ;;
        'Qubico/trellis2') echo 'image-to-3d' ;;
        'Qubico/pixal3d') echo 'image-to-3d' ;;
        *) echo 'ai_try_on audio2audio avatar background-remove blend controlnet-lora describe edit effects extend extend_video face-swap fast-txt2video fill-inpaint fill-outpaint gemini-2.5-flash-image generate_lyrics generate_music image-edit image-to-3d image_to_video imagine img2img img2img-lora img2video img2video-14b img2video-14b-control-camera img2video-14b-keyframe img2video-14b-lora img2video-concat img2video-lora img2video-replace inpaint joycaption-beta-one kontext lip_sync motion_control multi-face-swap nano-banana-2 nano-banana-pro omni-human-1.5 omni_video_generation outpaint pan redux-variation remove-watermark reroll seed seed-audio-1.0 seedance-2 seedance-2-fast seedance-2-fast-less-restriction seedance-2-less-restriction seedance-2-mini seedance-2-mini-less-restriction seedance-2-preview seedance-2.5 seedance-2.5-less-restriction seedream-5-lite seedream-5-lite-less-restriction seedream-5-pro seedream-5-pro-less-restriction segment sora2-pro-video sora2-video sound text-to-3d txt2audio txt2audio-base txt2audio-full txt2img txt2img-lora txt2video txt2video-1.3b txt2video-14b txt2video-14b-lora txt2video-lora upscale variation veo3-video veo3-video-fast veo3.1-video veo3.1-video-fast video2audio video_generation wan22-img2video-14b wan22-txt2video-14b wan26-img2video wan26-txt2video zero-shot' ;;
    esac
}

_piapi_subcommands() {
    case "$1" in
        '') echo 'create get wait cancel download report compare chat image account models listen trigger completion batch tasks config sandbox' ;;
        'batch') echo 'run status list' ;;
        'tasks') echo 'sync show usage images' ;;
        'tasks images') echo 'show' ;;
        'config') echo 'set-key show path set unset' ;;
        'sandbox') echo 'serve' ;;
    esac
}

_piapi_options() {
    case "$1" in
        '') echo '--base-url --debug --help --no-color --no-journal --profile --sandbox --version' ;;
        'create') echo '--download --dry-run --from --help --inline --input --input-file --interval --jq --json --metadata --model --name --no-preview --no-validate --overwrite --preview --quiet --service-mode --skip-existing --task-type --timeout --wait --webhook --webhook-secret' ;;
        'get') echo '--help --jq --json --no-preview --preview' ;;
        'wait') echo '--download --help --interval --jq --json --metadata --name --no-preview --overwrite --pending --preview --quiet --skip-existing --timeout' ;;
        'cancel') echo '--help' ;;
        'download') echo '--dir --help --ids-from --jq --json --metadata --name --overwrite --quiet --skip-existing' ;;
        'report') echo '--batch --compare-by --help --jq --json --model --no-preview --no-thumbnails --open --out --preview --since --status' ;;
        'compare') echo '--download --dry-run --help --input --interval --json --model --no-validate --quiet --report --run-id --timeout' ;;
        'chat') echo '--continue --conversation --download --file --help --json --model --no-stream --option --stream-json --system' ;;
        'image') echo '--download --edit --format --help --jq --json --model --quality --response-format --size' ;;
        'account') echo '--help --jq --json' ;;
        'models') echo '--category --chat --help --json --task-type' ;;
        'listen') echo '--backstop --download --download-any-url --events --exec --forward-to --help --host --path --port --print-secret --public-url --quiet --replay --secret --secret-file' ;;
        'trigger') echo '--dry-run --from-task --help --model --secret --secret-file --status --task-type' ;;
        'completion') echo '--help' ;;
        'batch') echo '--help' ;;
        'batch run') echo '--attach --concurrency --download --dry-run --force --help --inline --input --interval --json --matrix --max-credits --metadata --model --name --no-validate --only --open --output --overwrite --quiet --report --resubmit-unknown --retry-failed --run-id --shard --skip-existing --task-type --template --template-field --timeout --webhook --webhook-secret' ;;
        'batch status') echo '--help --jq --json' ;;
        'batch list') echo '--all --help --jq --json' ;;
        'tasks') echo '--help --jq --json --limit --model --remote --since --status --world' ;;
        'tasks sync') echo '--help --json --model --since' ;;
        'tasks show') echo '--help --jq --json' ;;
        'tasks usage') echo '--by --help --jq --json --since --world' ;;
        'tasks images') echo '--help --jq --json --limit --model --since --status --world' ;;
        'tasks images show') echo '--help --jq --json' ;;
        'config') echo '--help' ;;
        'config set-key') echo '--help' ;;
        'config show') echo '--help --json' ;;
        'config path') echo '--help' ;;
        'config set') echo '--help' ;;
        'config unset') echo '--help' ;;
        'sandbox') echo '--help' ;;
        'sandbox serve') echo '--api-key --concurrency --drop-rate --fail-rate --help --host --latency --max-body --no-webhooks --port --quiet --rate-limit-rate --speed --timeout --truncate-downloads' ;;
    esac
}

# what follows option $2 (or is argument #N, #* for any further) of the command path $1:
# model, task_type, file, dir, input (-i key=@PATH), words:LIST or value; nothing for a flag
_piapi_kind() {
    case "$1|$2" in
        '|--profile'|'|--base-url') echo 'value' ;;
        'create|--model'|'create|-m') echo 'model' ;;
        'create|--task-type'|'create|-t') echo 'task_type' ;;
        'create|--from'|'create|--webhook'|'create|--webhook-secret'|'create|--timeout'|'create|--interval'|'create|--jq'|'create|--name') echo 'value' ;;
        'create|--input'|'create|-i') echo 'input' ;;
        'create|--input-file') echo 'file' ;;
        'create|--service-mode') echo 'words:public private' ;;
        'create|--download') echo 'dir' ;;
        'get|#1'|'get|#*'|'get|--jq') echo 'value' ;;
        'wait|#1'|'wait|#*'|'wait|--timeout'|'wait|--interval'|'wait|--name'|'wait|--jq') echo 'value' ;;
        'wait|--download') echo 'dir' ;;
        'cancel|#1'|'cancel|#*') echo 'value' ;;
        'download|#1'|'download|#*'|'download|--name'|'download|--jq') echo 'value' ;;
        'download|--ids-from') echo 'file' ;;
        'download|--dir'|'download|-d') echo 'dir' ;;
        'report|#1'|'report|#*'|'report|--batch'|'report|--since'|'report|--compare-by'|'report|--jq') echo 'value' ;;
        'report|--model'|'report|-m') echo 'model' ;;
        'report|--status'|'report|-s') echo 'words:pending staged processing completed failed cancelled not_sent refused sending unknown' ;;
        'report|--out'|'report|-o') echo 'file' ;;
        'compare|--model'|'compare|-m') echo 'model' ;;
        'compare|--input'|'compare|-i') echo 'input' ;;
        'compare|--download'|'compare|--report') echo 'dir' ;;
        'compare|--run-id'|'compare|--timeout'|'compare|--interval') echo 'value' ;;
        'chat|#1'|'chat|--system'|'chat|--option'|'chat|-o'|'chat|--conversation') echo 'value' ;;
        'chat|--model'|'chat|-m') echo 'model' ;;
        'chat|--file'|'chat|-f') echo 'file' ;;
        'chat|--download') echo 'dir' ;;
        'image|#1'|'image|-n'|'image|--size'|'image|--quality'|'image|--format'|'image|--response-format'|'image|--jq') echo 'value' ;;
        'image|--model'|'image|-m') echo 'model' ;;
        'image|--edit') echo 'file' ;;
        'image|--download') echo 'dir' ;;
        'account|--jq') echo 'value' ;;
        'models|#1') echo 'model' ;;
        'models|--task-type'|'models|-t') echo 'task_type' ;;
        'models|--category'|'models|-c') echo 'words:image video audio 3d' ;;
        'listen|--port'|'listen|-p'|'listen|--host'|'listen|--path'|'listen|--secret'|'listen|--forward-to'|'listen|-f'|'listen|--exec'|'listen|--events'|'listen|--public-url'|'listen|--backstop'|'listen|--replay') echo 'value' ;;
        'listen|--secret-file') echo 'file' ;;
        'listen|--download') echo 'dir' ;;
        'trigger|#1'|'trigger|--secret'|'trigger|--from-task') echo 'value' ;;
        'trigger|--status'|'trigger|-s') echo 'words:pending staged processing completed failed cancelled' ;;
        'trigger|--model'|'trigger|-m') echo 'model' ;;
        'trigger|--task-type'|'trigger|-t') echo 'task_type' ;;
        'trigger|--secret-file') echo 'file' ;;
        'completion|#1') echo 'words:bash zsh fish' ;;
        'batch run|#1'|'batch run|--output'|'batch run|-o') echo 'file' ;;
        'batch run|--model'|'batch run|-m') echo 'model' ;;
        'batch run|--task-type'|'batch run|-t') echo 'task_type' ;;
        'batch run|--input'|'batch run|-i') echo 'input' ;;
        'batch run|--template'|'batch run|--matrix'|'batch run|--template-field'|'batch run|--webhook'|'batch run|--webhook-secret'|'batch run|--concurrency'|'batch run|-c'|'batch run|--max-credits'|'batch run|--shard'|'batch run|--run-id'|'batch run|--name'|'batch run|--attach'|'batch run|--timeout'|'batch run|--interval'|'batch run|--only') echo 'value' ;;
        'batch run|--download'|'batch run|--report') echo 'dir' ;;
        'batch status|#1'|'batch status|--jq') echo 'value' ;;
        'batch list|--jq') echo 'value' ;;
        'tasks|--status'|'tasks|-s') echo 'words:pending staged processing completed failed cancelled not_sent refused sending unknown' ;;
        'tasks|--model'|'tasks|-m') echo 'model' ;;
        'tasks|--since'|'tasks|--limit'|'tasks|-n'|'tasks|--jq') echo 'value' ;;
        'tasks|--world') echo 'words:all sandbox' ;;
        'tasks sync|--since') echo 'value' ;;
        'tasks sync|--model'|'tasks sync|-m') echo 'model' ;;
        'tasks show|#1'|'tasks show|--jq') echo 'value' ;;
        'tasks usage|--since'|'tasks usage|--jq') echo 'value' ;;
        'tasks usage|--by') echo 'words:model task_type day status world' ;;
        'tasks usage|--world') echo 'words:all sandbox' ;;
        'tasks images|--status'|'tasks images|-s') echo 'words:completed failed unknown sending' ;;
        'tasks images|--model'|'tasks images|-m') echo 'model' ;;
        'tasks images|--since'|'tasks images|--limit'|'tasks images|-n'|'tasks images|--jq') echo 'value' ;;
        'tasks images|--world') echo 'words:all sandbox' ;;
        'tasks images show|#1'|'tasks images show|--jq') echo 'value' ;;
        'config set|#1') echo 'words:api_key base_url upload_url service_mode wait_timeout request_timeout download_stall max_poll_interval read_timeout sandbox journal sandbox_speed preview preview_protocol webhook_secret' ;;
        'config set|#2') echo 'value' ;;
        'config unset|#1') echo 'words:api_key base_url upload_url service_mode wait_timeout request_timeout download_stall max_poll_interval read_timeout sandbox journal sandbox_speed preview preview_protocol webhook_secret' ;;
        'sandbox serve|--host'|'sandbox serve|--port'|'sandbox serve|--speed'|'sandbox serve|--concurrency'|'sandbox serve|--api-key'|'sandbox serve|--fail-rate'|'sandbox serve|--rate-limit-rate'|'sandbox serve|--drop-rate'|'sandbox serve|--latency'|'sandbox serve|--max-body'|'sandbox serve|--timeout') echo 'value' ;;
    esac
}

# the words up to the cursor, with what COMP_WORDBREAKS split (key=@PATH, --name=value) joined
_piapi_words() {
    local i w last
    _piapi_w=()
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        last=""
        ((${#_piapi_w[@]})) && last="${_piapi_w[${#_piapi_w[@]}-1]}"
        if ((i > 1)) && [[ "$w" =~ ^[=@:]+$ || ( "$last" =~ [=@:]$ && "$last" != -* ) ]]; then
            _piapi_w[${#_piapi_w[@]}-1]+="$w"
        else
            _piapi_w+=("$w")
        fi
    done
}

# -i key=@PATH: names on disk after =@ (bash's own word may start at = or @)
_piapi_at_file() {
    [[ "$1" == *=@* ]] || return
    local head="${1%%=@*}=@" part="${COMP_WORDS[COMP_CWORD]}" f full keep
    keep=$((${#1} - ${#part}))
    compopt -o filenames 2>/dev/null
    while IFS= read -r f; do
        full="$head$f"
        COMPREPLY+=("${full:keep}")
    done < <(compgen -f -- "${1#*=@}")
}

_piapi_complete() {
    local f
    case "$1" in
        model) COMPREPLY=($(compgen -W "$_piapi_models" -- "$2")) ;;
        task_type) COMPREPLY=($(compgen -W "$(_piapi_task_types "$3")" -- "$2")) ;;
        file|dir)
            compopt -o filenames 2>/dev/null
            while IFS= read -r f; do COMPREPLY+=("$f"); done < <(compgen "-${1:0:1}" -- "$2") ;;
        input) _piapi_at_file "$2" ;;
        words:*) COMPREPLY=($(compgen -W "${1#words:}" -- "$2")) ;;
    esac
}

_piapi() {
    local path="" model="" cur w i last kind="" n=0 subs
    local -a _piapi_w
    _piapi_words
    last=$((${#_piapi_w[@]} - 1))
    cur="${_piapi_w[last]}"
    COMPREPLY=()
    for ((i = 1; i < last; i++)); do
        w="${_piapi_w[i]}"
        if [[ "$w" == -?* ]]; then
            [[ "$w" == *=* ]] && continue
            kind="$(_piapi_kind "$path" "$w")"
            [ -n "$kind" ] || kind="$(_piapi_kind "" "$w")"
            if [ -n "$kind" ]; then
                ((i + 1 == last)) && break
                [ "$kind" = model ] && model="${_piapi_w[i+1]}"
                i=$((i + 1))
            fi
            kind=""
            continue
        fi
        subs=" $(_piapi_subcommands "$path") "
        if [ "$n" = 0 ] && [[ "$subs" == *" $w "* ]]; then
            path="${path:+$path }$w"
        else
            n=$((n + 1))
        fi
    done
    if [ -z "$kind" ]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "$(_piapi_options "$path")" -- "$cur"))
            return
        fi
        subs="$(_piapi_subcommands "$path")"
        if [ -n "$subs" ] && [ "$n" = 0 ]; then
            COMPREPLY=($(compgen -W "$subs" -- "$cur"))
            return
        fi
        kind="$(_piapi_kind "$path" "#$((n + 1))")"
        [ -n "$kind" ] || kind="$(_piapi_kind "$path" "#*")"
    fi
    _piapi_complete "$kind" "$cur" "$model"
}

complete -F _piapi piapi
